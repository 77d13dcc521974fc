#!/usr/bin/env python
"""Check the GPU path of smplpix-rt on this machine and print one JSON report.

    python scripts/gpu_check.py [--model M] [--sizes 256,512,1024] [--frames 30] [--out report.json]

Reports GPU / driver / CUDA versions; the CUDA–OpenGL interop round trip (texture → CUDA →
texture, bit-exact); every GPU backend against the CPU reference (max abs error); end-to-end fps
and slider → frame latency per size with and without interop; TensorRT when installed. Needs no
network and takes a few minutes at most. On a machine without CUDA it reports
``"cuda": {"available": false, "reason": ...}`` and exits 0. Each section that fails records an
``"error"`` instead of stopping the report.

Run on an NVIDIA H200 (results in docs/GPU.md); the ONNX Runtime CUDA and TensorRT sections
have not run there (onnxruntime-gpu and TensorRT were not installed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smplpix_rt.errors import SmplpixError  # noqa: E402
from smplpix_rt.generator.manifest import PLANE_CHANNELS  # noqa: E402


def _section(fn: Any, *args: Any) -> dict[str, Any]:
    """Run one report section; an exception becomes ``{"error": ...}``."""
    try:
        return fn(*args)
    except SmplpixError as exc:
        return {"error": str(exc)}
    except Exception as exc:  # a check script reports every failure and carries on
        return {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=3)}


def cuda_section() -> dict[str, Any]:
    from smplpix_rt.runtime.interop import checked, cuda_device_count, import_cudart

    count, reason = cuda_device_count()
    if count == 0:
        return {"available": False, "reason": reason}
    cudart = import_cudart()
    devices = []
    for index in range(count):
        props = checked(cudart.cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
        name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
        devices.append({"index": index, "name": name.rstrip("\x00"), "compute_capability": [props.major, props.minor]})
    import torch

    return {
        "available": True,
        "driver_version": checked(cudart.cudaDriverGetVersion(), "cudaDriverGetVersion"),
        "runtime_version": checked(cudart.cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"),
        "devices": devices,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_sees_cuda": torch.cuda.is_available(),
    }


def egl_section() -> dict[str, Any]:
    from smplpix_rt.raster.egl_device import list_egl_devices

    return {"devices": [d.__dict__ for d in list_egl_devices()]}


def _context() -> Any:
    from smplpix_rt.errors import GLUnavailableError
    from smplpix_rt.raster.context import create_headless_context
    from smplpix_rt.raster.egl_device import create_context_on_cuda_device

    try:
        return create_context_on_cuda_device(0)
    except GLUnavailableError:
        return create_headless_context()


def interop_roundtrip(ctx: Any, size: int = 256) -> dict[str, Any]:
    """Random RGBA16F texture → CUDA buffer → second texture; compares the bytes."""
    import torch

    from smplpix_rt.runtime.interop import RegisteredTextures

    rng = np.random.default_rng(0)
    data = rng.standard_normal((size, size, 4)).astype(np.float16)
    source = ctx.texture((size, size), 4, data.tobytes(), dtype="f2")
    target = ctx.texture((size, size), 4, dtype="f2")
    buffer = torch.empty((size, size, 4), dtype=torch.float16, device="cuda")
    stream = torch.cuda.Stream()
    registered = RegisteredTextures((source, target), (False, True))
    try:
        arrays = registered.map(stream.cuda_stream)
        registered.copy_from_array(arrays[0], buffer.data_ptr(), size, size, stream.cuda_stream)
        registered.copy_to_array(buffer.data_ptr(), arrays[1], size, size, stream.cuda_stream)
        registered.unmap()
        stream.synchronize()  # the copies ran on `stream`; buffer.cpu() below runs on the default stream
        back = np.frombuffer(target.read(), np.float16).reshape(size, size, 4)
        via_cuda = buffer.cpu().numpy()
    finally:
        registered.release()
        source.release()
        target.release()
    return {
        "size": size,
        "bit_exact": bool(np.array_equal(back.view(np.uint16), data.view(np.uint16))),
        "cuda_buffer_exact": bool(np.array_equal(via_cuda.view(np.uint16), data.view(np.uint16))),
    }


def _random_model(folder: Path, arch: str = "pixnet") -> Path:
    import torch

    from smplpix_rt.generator.export import export_onnx
    from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs
    from smplpix_rt.generator.networks import GeneratorGraph, build_network

    torch.manual_seed(0)
    net = build_network(arch, in_channels=8).eval()
    manifest = Manifest(
        body_model="anny",
        body_model_version="gpu-check",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture(arch, {"in_channels": 8}),
        resolution=(256, 256),
        size_multiple=net.size_multiple,
    )
    return export_onnx(GeneratorGraph(net, manifest).eval(), manifest, folder / f"random_{arch}.onnx")


def backends_section(model: Path) -> dict[str, Any]:
    """Each GPU backend (host copies and device pointers) against the CPU reference."""
    from smplpix_rt.runtime.loader import load_runtime

    # PyTorch fp32 on the CPU reads every file type (an int8 file through its dequantized weights).
    reference = load_runtime(model, backend="torch", device="cpu", precision="fp32")
    height, width = reference.manifest.resolution
    rng = np.random.default_rng(1)
    planes = tuple(rng.random((height, width, PLANE_CHANNELS), dtype=np.float32) for _ in reference.manifest.inputs)
    expected = reference.infer(planes)
    reference.release()
    results: dict[str, Any] = {"reference": "torch fp32 on the cpu", "size": [height, width]}
    loaders = {
        "torch_cuda_fp32": lambda: load_runtime(model, backend="torch", device="cuda", precision="fp32"),
        "torch_cuda_auto": lambda: load_runtime(model, backend="torch", device="cuda", precision="auto"),
        "onnxruntime_cuda": lambda: load_runtime(model, backend="onnxruntime", device="cuda"),
    }
    if importlib.util.find_spec("tensorrt") is not None and model.suffix == ".onnx":
        from smplpix_rt.runtime.engine_cache import EngineCache

        loaders["tensorrt"] = lambda: EngineCache().load(model)
    for name, load in loaders.items():
        results[name] = _section(_compare_backend, load, planes, expected)
    return results


def _compare_backend(load: Any, planes: tuple[np.ndarray, ...], expected: np.ndarray) -> dict[str, Any]:
    import torch

    from smplpix_rt.runtime.device import device_generator_for

    runtime = load()
    try:
        host = runtime.infer(planes)
        out: dict[str, Any] = {"precision": runtime.describe().precision}
        out["max_abs_error_host"] = float(np.abs(host - expected).max())
        generator = device_generator_for(runtime)
        inputs = [torch.from_numpy(p)[None].cuda() for p in planes]
        output = torch.empty((1, *expected.shape), dtype=torch.float32, device="cuda")
        stream = torch.cuda.current_stream()
        generator.infer_device(
            [t.data_ptr() for t in inputs], output.data_ptr(), stream.cuda_stream, expected.shape[:2]
        )
        stream.synchronize()
        out["max_abs_error_device"] = float(np.abs(output[0].cpu().numpy() - expected).max())
        generator.release()
        return out
    finally:
        runtime.release()


def _timings(step: Any, frames: int) -> dict[str, float]:
    step(0)  # warm-up: first frame allocates and compiles
    latencies = []
    start = time.perf_counter()
    for index in range(1, frames + 1):
        t0 = time.perf_counter()
        step(index)
        latencies.append(1000.0 * (time.perf_counter() - t0))
    total = time.perf_counter() - start
    return {
        "fps": round(frames / total, 2),
        "latency_ms_median": round(statistics.median(latencies), 2),
        "latency_ms_max": round(max(latencies), 2),
    }


def performance_section(model: Path, sizes: list[int], frames: int, ctx: Any) -> dict[str, Any]:
    """End-to-end fps and slider → frame latency per size: every frame has new shape parameters."""
    return {f"{size}x{size}": _section(_measure_size, model, size, frames, ctx) for size in sizes}


def _measure_size(model: Path, size: int, frames: int, ctx: Any) -> dict[str, Any]:
    from smplpix_rt.camera import framing_orbit
    from smplpix_rt.pipeline import Pipeline, PipelineConfig

    entry: dict[str, Any] = {}
    for path in ("host", "interop"):
        config = PipelineConfig(model=model, width=size, height=size, frame_path=path)
        try:
            pipeline = Pipeline.open(config, ctx=ctx)
        except SmplpixError as exc:
            entry[path] = {"error": str(exc)}
            continue
        try:
            params = pipeline.body.default_params()
            camera = framing_orbit(pipeline.body.forward(params).vertices).camera(size, size)

            def moved(index: int, params: Any = params) -> Any:
                shape = params.shape.copy()
                shape[:1] = 0.5 + 0.3 * np.sin(index / 5.0)
                return params.replace(shape=shape)

            entry["backend"] = pipeline.runtime.describe().__dict__
            entry[path] = _timings(lambda i, p=pipeline, c=camera, m=moved: p.render(m(i), c), frames)
            entry[path]["reason"] = pipeline.frame_path_reason
            entry[path]["last_frame"] = pipeline.render(moved(frames), camera).image
        finally:
            pipeline.release()
    host, interop = entry.get("host", {}), entry.get("interop", {})
    if "last_frame" in host and "last_frame" in interop:
        diff = np.abs(host["last_frame"].astype(np.int16) - interop["last_frame"].astype(np.int16))
        entry["interop_vs_host_max_abs_uint8"] = int(diff.max())
    for side in (host, interop):
        side.pop("last_frame", None)
    return entry


def generator_section(model: Path, folder: Path, sizes: list[int], runs: int = 50) -> dict[str, Any]:
    """Generator-only time on device pointers (CUDA events), per network, precision and size.

    Times the model and, for comparison, the SMPLpix reference U-Net with random weights.
    """
    models = {"model": model, "smplpix-unet-random": _random_model(folder, "smplpix-unet")}
    return {
        f"{name}/{precision}": _section(_time_generator, model, precision, sizes, runs)
        for name, model in models.items()
        for precision in ("fp32", "bf16", "fp16")
    }


def _time_generator(model: Path, precision: str, sizes: list[int], runs: int) -> dict[str, Any]:
    import torch

    from smplpix_rt.runtime.device import device_generator_for
    from smplpix_rt.runtime.loader import load_runtime

    runtime = load_runtime(model, backend="torch", device="cuda", precision=precision)
    out: dict[str, Any] = {}
    try:
        generator = device_generator_for(runtime)
        stream = torch.cuda.Stream()
        for size in sizes:
            inputs = [torch.rand((1, size, size, PLANE_CHANNELS), device="cuda") for _ in runtime.manifest.inputs]
            output = torch.empty((1, size, size, 3), device="cuda")
            torch.cuda.synchronize()  # the inputs were filled on the default stream
            args = ([t.data_ptr() for t in inputs], output.data_ptr(), stream.cuda_stream, (size, size))
            for _ in range(5):
                generator.infer_device(*args)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(stream)
            for _ in range(runs):
                generator.infer_device(*args)
            end.record(stream)
            end.synchronize()
            ms = start.elapsed_time(end) / runs
            out[f"{size}x{size}"] = {"ms": round(ms, 3), "fps": round(1000.0 / ms, 1)}
        generator.release()
        return out
    finally:
        runtime.release()


def tensorrt_section() -> dict[str, Any]:
    if importlib.util.find_spec("tensorrt") is None:
        return {"installed": False}
    import tensorrt

    return {"installed": True, "version": tensorrt.__version__}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None, help="generator file (default: the shipped model)")
    parser.add_argument("--sizes", default="256,512,1024", help="square output sizes, comma separated")
    parser.add_argument("--frames", type=int, default=30, help="timed frames per size and path")
    parser.add_argument("--out", type=Path, default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        print(f"error: --sizes must be integers separated by commas, got {args.sizes!r}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {
        "system": {"python": platform.python_version(), "platform": platform.platform()},
        "cuda": _section(cuda_section),
        "egl": _section(egl_section),
        "tensorrt": _section(tensorrt_section),
    }
    if report["cuda"].get("available"):
        _gpu_sections(report, args.model, sizes, args.frames)
    else:
        skipped = {"skipped": "cuda unavailable"}
        report.update(interop=skipped, backends=skipped, performance=skipped)
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


def _gpu_sections(report: dict[str, Any], model: Path | None, sizes: list[int], frames: int) -> None:
    from smplpix_rt.pipeline import default_model_path

    with tempfile.TemporaryDirectory() as folder:
        if model is None:
            try:
                model = default_model_path()
            except SmplpixError:
                model = _random_model(Path(folder))
        report["model"] = str(model)
        ctx = _context()
        try:
            report["opengl"] = {k: str(ctx.info.get(k)) for k in ("GL_RENDERER", "GL_VENDOR", "GL_VERSION")}
            report["interop"] = _section(interop_roundtrip, ctx)
            report["backends"] = _section(backends_section, model)
            report["performance"] = _section(performance_section, model, sizes, frames, ctx)
            report["generator_only"] = _section(generator_section, model, Path(folder), sizes)
        finally:
            ctx.release()


if __name__ == "__main__":
    sys.exit(main())
