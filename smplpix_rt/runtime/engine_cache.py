"""On-demand TensorRT engine cache: build an engine from an ONNX generator once per machine, reuse it after.

A serialized TensorRT engine only runs on the GPU architecture and the TensorRT version that built
it, for the shapes and precision it was built with. The cache therefore names each engine by an
:class:`EngineKey` of all of these plus a hash of the ONNX file's bytes, so a model update, a
driver/TensorRT upgrade or another GPU never picks up a stale engine: it simply misses and builds.

Layout of the cache directory (``$SMPLPIX_CACHE_DIR/engines`` or ``~/.cache/smplpix-rt/engines``)::

    <stem>-<key digest>.engine          the engine (written atomically by ``build_engine``)
    <stem>-<key digest>.engine.json     its manifest sidecar
    <stem>-<key digest>.key.json        the full key, written last: an entry without it is incomplete
    timing-<gpu>-trt<version>.cache     TensorRT layer timings shared by every build on this GPU

Only the key, lookup and file handling are tested; the build itself goes through
:func:`smplpix_rt.runtime.trt_backend.build_engine`, which has not been run (TensorRT was not
installable on any machine this code was checked on).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.fileio import write_atomic
from smplpix_rt.generator.manifest import read_manifest, sidecar_path

log = logging.getLogger("smplpix_rt.engine_cache")

#: Environment variable that moves every smplpix-rt cache (engines live in its ``engines/`` folder).
CACHE_ENV = "SMPLPIX_CACHE_DIR"
KEY_VERSION = 1

#: ``build_engine``'s signature: (onnx_path, engine_path, fp16, timing_cache, max_size) -> engine path.
EngineBuilder = Callable[..., Path]


@dataclass(frozen=True)
class GpuIdentity:
    """The GPU and TensorRT an engine is built for.

    Attributes:
        name: device name as CUDA reports it, e.g. ``"NVIDIA H200"``.
        compute_capability: (major, minor), e.g. (9, 0).
        trt_version: ``tensorrt.__version__``.
    """

    name: str
    compute_capability: tuple[int, int]
    trt_version: str


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; two builds with equal keys are interchangeable.

    Attributes:
        gpu: the GPU and TensorRT version.
        onnx_sha256: hex SHA-256 of the ONNX file's bytes.
        max_size: largest (H, W) the engine accepts (its optimization profile's maximum).
        precision: ``"fp16"`` or ``"fp32"``.
    """

    gpu: GpuIdentity
    onnx_sha256: str
    max_size: tuple[int, int]
    precision: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (stable field order) including the key format version."""
        data = asdict(self)
        data["gpu"]["compute_capability"] = list(self.gpu.compute_capability)
        data["max_size"] = list(self.max_size)
        return {"key_version": KEY_VERSION, **data}

    def digest(self) -> str:
        """A 20-hex-digit name for this key: changes when any field changes."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def engine_key(onnx_path: str | Path, gpu: GpuIdentity, max_size: tuple[int, int], fp16: bool = True) -> EngineKey:
    """The cache key of the engine built from ``onnx_path`` for ``gpu``.

    Args:
        onnx_path: an fp32 or fp16 ONNX generator with an embedded manifest.
        gpu: see :func:`current_gpu`.
        max_size: largest (H, W) the engine must accept.
        fp16: build fp16 kernels from an fp32 file (an fp16 file is always fp16).

    Raises:
        ModelFileError: the ONNX file is missing or has no valid manifest.
        InputError: an int8 file (TensorRT engines are built from fp32 / fp16 ONNX).
    """
    onnx_path = Path(onnx_path)
    manifest = read_manifest(onnx_path)
    if manifest.precision == "int8":
        raise InputError(f"{onnx_path} is int8 (for onnxruntime); build TensorRT engines from the fp32 or fp16 ONNX")
    precision = "fp16" if (fp16 or manifest.precision == "fp16") else "fp32"
    size = (int(max_size[0]), int(max_size[1]))
    return EngineKey(gpu=gpu, onnx_sha256=file_sha256(onnx_path), max_size=size, precision=precision)


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SMPLPIX_CACHE_DIR/engines`` when set, else ``~/.cache/smplpix-rt/engines``."""
    environ = os.environ if environ is None else environ
    root = environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "smplpix-rt"
    return base / "engines"


def current_gpu(device: int = 0) -> GpuIdentity:
    """Identify CUDA device ``device`` and the installed TensorRT.

    Raises:
        BackendUnavailableError: TensorRT or a CUDA GPU is missing.
    """
    from smplpix_rt.runtime.trt_backend import _require_cuda, import_tensorrt

    trt = import_tensorrt()
    torch = _require_cuda()
    major, minor = torch.cuda.get_device_capability(device)
    return GpuIdentity(torch.cuda.get_device_name(device), (int(major), int(minor)), str(trt.__version__))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower() or "gpu"


class EngineCache:
    """A folder of TensorRT engines named by :class:`EngineKey`.

    Args:
        root: the cache folder; default :func:`default_cache_dir`. Created on first build.
    """

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def engine_path(self, key: EngineKey, stem: str) -> Path:
        """Where the engine for ``key`` lives (whether or not it exists yet)."""
        return self.root / f"{_slug(stem)}-{key.digest()}.engine"

    def timing_cache_path(self, gpu: GpuIdentity) -> Path:
        """The timing cache shared by every build for this GPU model and TensorRT version."""
        cc = "".join(str(v) for v in gpu.compute_capability)
        return self.root / f"timing-{_slug(gpu.name)}-sm{cc}-trt{_slug(gpu.trt_version)}.cache"

    def lookup(self, key: EngineKey, stem: str) -> Path | None:
        """The cached engine for ``key``, or None when absent or incomplete (no sidecar / key file)."""
        engine = self.engine_path(key, stem)
        key_file = engine.with_suffix(".key.json")
        if not (engine.is_file() and sidecar_path(engine).is_file() and key_file.is_file()):
            return None
        try:
            stored = json.loads(key_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return engine if stored == key.to_dict() else None

    def evict(self, key: EngineKey, stem: str) -> None:
        """Delete the entry for ``key`` (engine, sidecar and key file); missing files are ignored."""
        engine = self.engine_path(key, stem)
        for path in (engine.with_suffix(".key.json"), sidecar_path(engine), engine):
            path.unlink(missing_ok=True)

    def get_or_build(
        self,
        onnx_path: str | Path,
        gpu: GpuIdentity,
        max_size: tuple[int, int] | None = None,
        fp16: bool = True,
        builder: EngineBuilder | None = None,
    ) -> Path:
        """The engine for ``onnx_path`` on ``gpu``, built (minutes) only when not cached.

        Args:
            onnx_path: fp32 or fp16 ONNX generator.
            gpu: the target GPU (:func:`current_gpu`).
            max_size: largest (H, W) to accept; default twice the manifest's resolution.
            fp16: see :func:`engine_key`.
            builder: engine builder, default :func:`smplpix_rt.runtime.trt_backend.build_engine`.

        Returns:
            Path of the cached engine (its sidecar next to it).

        Raises:
            ModelFileError, InputError, BackendUnavailableError: from reading the ONNX or building.
        """
        onnx_path = Path(onnx_path)
        if not onnx_path.is_file():
            raise ModelFileError(f"{onnx_path}: file not found (the engine cache builds from an .onnx generator)")
        key = engine_key(onnx_path, gpu, self._max_size(onnx_path, max_size), fp16)
        found = self.lookup(key, onnx_path.stem)
        if found is not None:
            log.info("using cached TensorRT engine %s", found)
            return found
        if builder is None:
            from smplpix_rt.runtime.trt_backend import build_engine as builder
        self.root.mkdir(parents=True, exist_ok=True)
        engine = self.engine_path(key, onnx_path.stem)
        log.info("no cached engine for %s on %s; building %s", onnx_path.name, gpu.name, engine.name)
        builder(onnx_path, engine, fp16=fp16, timing_cache=self.timing_cache_path(gpu), max_size=key.max_size)
        if not (engine.is_file() and sidecar_path(engine).is_file()):
            raise ModelFileError(f"building {engine} did not produce the engine and its .json sidecar")
        write_atomic(engine.with_suffix(".key.json"), json.dumps(key.to_dict(), indent=2).encode())
        return engine

    def load(self, onnx_path: str | Path, device: int = 0, max_size: tuple[int, int] | None = None, fp16: bool = True):
        """A :class:`TensorRTRuntime` for ``onnx_path``, building or rebuilding the cached engine as needed.

        A cached engine TensorRT refuses to deserialize (e.g. after a driver change that kept the
        TensorRT version) is evicted and rebuilt once.

        Raises:
            BackendUnavailableError: TensorRT or CUDA is missing.
            ModelFileError: the ONNX file is invalid, or the rebuilt engine still does not load.
        """
        from smplpix_rt.runtime.trt_backend import TensorRTRuntime

        gpu = current_gpu(device)
        engine = self.get_or_build(onnx_path, gpu, max_size, fp16)
        try:
            return TensorRTRuntime(engine, device=device)
        except ModelFileError as exc:
            log.warning("cached engine %s does not load (%s); rebuilding it", engine.name, exc)
            key = engine_key(onnx_path, gpu, self._max_size(onnx_path, max_size), fp16)
            self.evict(key, Path(onnx_path).stem)
            engine = self.get_or_build(onnx_path, gpu, max_size, fp16)
            return TensorRTRuntime(engine, device=device)

    @staticmethod
    def _max_size(onnx_path: str | Path, max_size: tuple[int, int] | None) -> tuple[int, int]:
        if max_size is not None:
            return max_size
        height, width = read_manifest(onnx_path).resolution
        return (2 * height, 2 * width)
