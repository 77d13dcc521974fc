"""The TensorRT engine cache: key, lookup, build-once and rebuild, with a fake builder (no TensorRT needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from smplpix_rt.errors import BackendUnavailableError, InputError
from smplpix_rt.generator.export import export_onnx
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs, read_manifest, write_sidecar
from smplpix_rt.generator.networks import GeneratorGraph, build_network
from smplpix_rt.runtime.engine_cache import (
    CACHE_ENV,
    EngineCache,
    GpuIdentity,
    current_gpu,
    default_cache_dir,
    engine_key,
)

PARAMS = {"in_channels": 8, "base_filters": 8, "depth": 3, "max_filters": 16}
H200 = GpuIdentity("NVIDIA H200", (9, 0), "10.13.0")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    net = build_network("pixnet", **PARAMS).eval()
    manifest = Manifest(
        body_model="anny",
        body_model_version="0.6.2",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", PARAMS),
        resolution=(64, 64),
        size_multiple=net.size_multiple,
    )
    return export_onnx(GeneratorGraph(net, manifest).eval(), manifest, tmp_path_factory.mktemp("m") / "avatar.onnx")


class FakeBuilder:
    """Writes an engine-shaped file and its sidecar the way build_engine does, and counts builds."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def __call__(self, onnx_path, engine_path, fp16=True, timing_cache=None, max_size=None) -> Path:
        self.calls.append({"engine": Path(engine_path), "timing_cache": timing_cache, "max_size": max_size})
        Path(engine_path).write_bytes(b"engine")
        write_sidecar(read_manifest(onnx_path), engine_path)
        return Path(engine_path)


def test_key_is_stable_and_changes_with_every_field(onnx_file, tmp_path):
    key = engine_key(onnx_file, H200, (128, 128))
    assert key.digest() == engine_key(onnx_file, H200, (128, 128)).digest()
    other_gpu = GpuIdentity("NVIDIA L4", (8, 9), "10.13.0")
    other_trt = GpuIdentity("NVIDIA H200", (9, 0), "10.14.1")
    import onnx

    model = onnx.load(str(onnx_file))
    model.doc_string = "retrained"
    changed_onnx = tmp_path / "changed.onnx"
    onnx.save(model, str(changed_onnx))
    variants = [
        engine_key(onnx_file, other_gpu, (128, 128)),
        engine_key(onnx_file, other_trt, (128, 128)),
        engine_key(onnx_file, H200, (256, 128)),
        engine_key(onnx_file, H200, (128, 128), fp16=False),
        engine_key(changed_onnx, H200, (128, 128)),
    ]
    digests = {key.digest(), *(v.digest() for v in variants)}
    assert len(digests) == 6


def test_builds_once_then_reuses(onnx_file, tmp_path):
    cache, builder = EngineCache(tmp_path / "engines"), FakeBuilder()
    first = cache.get_or_build(onnx_file, H200, builder=builder)
    second = cache.get_or_build(onnx_file, H200, builder=builder)
    assert first == second and first.is_file()
    assert len(builder.calls) == 1
    assert builder.calls[0]["max_size"] == (128, 128)  # twice the trained 64x64
    assert builder.calls[0]["timing_cache"] == cache.timing_cache_path(H200)
    cache.get_or_build(onnx_file, GpuIdentity("NVIDIA L4", (8, 9), "10.13.0"), builder=builder)
    assert len(builder.calls) == 2


def test_incomplete_entry_is_rebuilt(onnx_file, tmp_path):
    cache, builder = EngineCache(tmp_path), FakeBuilder()
    engine = cache.get_or_build(onnx_file, H200, builder=builder)
    engine.with_suffix(".key.json").unlink()  # as if the process died between engine and key file
    cache.get_or_build(onnx_file, H200, builder=builder)
    assert len(builder.calls) == 2
    key = engine_key(onnx_file, H200, (128, 128))
    cache.evict(key, onnx_file.stem)
    assert cache.lookup(key, onnx_file.stem) is None and not engine.exists()


def test_cache_dir_follows_the_environment(tmp_path):
    assert default_cache_dir({CACHE_ENV: str(tmp_path)}) == tmp_path / "engines"
    assert default_cache_dir({}) == Path.home() / ".cache" / "smplpix-rt" / "engines"


def test_int8_onnx_is_refused(onnx_file, tmp_path):
    int8 = tmp_path / "int8.onnx"
    import onnx

    from smplpix_rt.generator.manifest import embed_in_onnx

    model = onnx.load(str(onnx_file))
    embed_in_onnx(model, read_manifest(onnx_file).replace(precision="int8"))
    onnx.save(model, str(int8))
    with pytest.raises(InputError, match="int8.*fp32 or fp16 ONNX"):
        engine_key(int8, H200, (128, 128))


def test_without_tensorrt_the_cache_says_what_to_install(monkeypatch, onnx_file, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        current_gpu()
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        EngineCache(tmp_path).load(onnx_file)
    assert not any(tmp_path.iterdir())


def test_an_engine_that_no_longer_loads_is_rebuilt_once(monkeypatch, onnx_file, tmp_path):
    import smplpix_rt.runtime.engine_cache as engine_cache
    import smplpix_rt.runtime.trt_backend as trt_backend
    from smplpix_rt.errors import ModelFileError

    loads: list[Path] = []

    class FakeRuntime:
        def __init__(self, path, device=0):
            loads.append(Path(path))
            if len(loads) == 1:
                raise ModelFileError(f"{path} is not a valid engine for this machine; rebuild it")

    builder = FakeBuilder()
    monkeypatch.setattr(engine_cache, "current_gpu", lambda device=0: H200)
    monkeypatch.setattr(trt_backend, "TensorRTRuntime", FakeRuntime)
    monkeypatch.setattr(trt_backend, "build_engine", builder)
    cache = EngineCache(tmp_path)
    cache.get_or_build(onnx_file, H200, builder=builder)
    assert isinstance(cache.load(onnx_file), FakeRuntime)
    assert len(builder.calls) == 2 and len(loads) == 2
