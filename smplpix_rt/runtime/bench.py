"""Generator speed benchmark: milliseconds per frame for each architecture × backend × precision.

Networks get random weights (speed does not depend on them). Every configuration is exported and
loaded exactly as a user's model would be — ONNX (fp32 and int8), safetensors — and timed with
``Runtime.infer`` on host G-buffers, so the numbers include the host-side copies a viewer pays.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smplpix_rt.generator.export import export_onnx, quantize_int8, save_torch
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs
from smplpix_rt.generator.networks import GeneratorGraph, build_network, count_flops
from smplpix_rt.runtime.base import Runtime
from smplpix_rt.runtime.host import cpu_has_fast_bf16

_ENCODING = {"pixnet": "neural", "smplpix-unet": "smplpix"}


def _write_models(arch: str, size: int, folder: Path, int8: bool) -> tuple[Manifest, dict[str, Path], float]:
    encoding = _ENCODING[arch]
    inputs = default_inputs(encoding)
    channels = sum(len(spec.channels) for spec in inputs)
    torch.manual_seed(0)
    net = build_network(arch, in_channels=channels).eval()
    manifest = Manifest(
        body_model="anny",
        body_model_version="bench",
        encoding=encoding,
        inputs=inputs,
        architecture=Architecture(arch, {"in_channels": channels}),
        resolution=(size, size),
        size_multiple=net.size_multiple,
    )
    graph = GeneratorGraph(net, manifest).eval()
    files = {"onnx": export_onnx(graph, manifest, folder / f"{arch}.onnx")}
    files["safetensors"] = save_torch(graph, manifest, folder / f"{arch}.safetensors")
    if int8:
        rng = np.random.default_rng(0)
        calibration = [tuple(rng.random((size, size, 4), dtype=np.float32) for _ in inputs) for _ in range(2)]
        files["int8"] = quantize_int8(files["onnx"], folder / f"{arch}-int8.onnx", calibration)
    return manifest, files, count_flops(net, size, size) / 1e9


def _configurations(files: dict[str, Path], cuda: bool) -> list[Callable[[], Runtime]]:
    from smplpix_rt.runtime.ort_backend import OrtRuntime
    from smplpix_rt.runtime.torch_backend import TorchRuntime

    configs: list[Callable[[], Runtime]] = [lambda: TorchRuntime(files["safetensors"], precision="fp32")]
    if cpu_has_fast_bf16():
        configs.append(lambda: TorchRuntime(files["safetensors"], precision="bf16"))
    configs.append(lambda: OrtRuntime(files["onnx"]))
    if "int8" in files:
        configs.append(lambda: OrtRuntime(files["int8"]))
    if cuda:
        configs.append(lambda: TorchRuntime(files["safetensors"], precision="auto", device="cuda"))
        configs.append(lambda: OrtRuntime(files["onnx"], device="cuda"))
    return configs


def _time(runtime: Runtime, size: int, warmup: int, runs: int) -> list[float]:
    rng = np.random.default_rng(1)
    planes = tuple(rng.random((size, size, 4), dtype=np.float32) for _ in runtime.manifest.inputs)
    for _ in range(warmup):
        runtime.infer(planes)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        runtime.infer(planes)
        times.append(1000.0 * (time.perf_counter() - start))
    return times


def bench_generators(
    size: int,
    archs: Sequence[str] = ("pixnet", "smplpix-unet"),
    runs: int = 10,
    warmup: int = 3,
    int8: bool = True,
) -> list[dict[str, Any]]:
    """Time every generator architecture on every usable backend at ``size``×``size``.

    Args:
        size: frame height and width in pixels (a multiple of 32).
        archs: architectures to time (``"pixnet"``, ``"smplpix-unet"``).
        runs: timed frames per configuration.
        warmup: untimed frames first.
        int8: also quantize and time the ONNX Runtime int8 model.

    Returns:
        One dict per configuration: ``arch``, ``size``, ``gflops``, ``backend``, ``device``,
        ``precision``, ``ms_median``, ``ms_min``, ``fps`` (from the median). Configurations that
        cannot run here (no CUDA, ...) are left out.
    """
    from smplpix_rt.errors import BackendUnavailableError

    cuda = torch.cuda.is_available()
    results = []
    with tempfile.TemporaryDirectory(prefix="smplpix-bench-") as tmp:
        for arch in archs:
            _, files, gflops = _write_models(arch, size, Path(tmp), int8)
            for create in _configurations(files, cuda):
                try:
                    runtime = create()
                except BackendUnavailableError:
                    continue
                with runtime:
                    times = _time(runtime, size, warmup, runs)
                    info = runtime.describe()
                median = statistics.median(times)
                results.append(
                    {
                        "arch": arch,
                        "size": size,
                        "gflops": round(gflops, 2),
                        "backend": info.backend,
                        "device": info.device,
                        "precision": info.precision,
                        "ms_median": round(median, 2),
                        "ms_min": round(min(times), 2),
                        "fps": round(1000.0 / median, 1),
                    }
                )
    return results


def format_table(results: list[dict[str, Any]]) -> str:
    """The results as an aligned text table (one line per configuration)."""
    header = f"{'arch':14s} {'size':>5s} {'GFLOPs':>7s} {'backend':12s} {'device':7s} {'prec':5s} "
    header += f"{'ms/frame':>9s} {'min':>7s} {'fps':>6s}"
    lines = [header]
    for r in results:
        lines.append(
            f"{r['arch']:14s} {r['size']:5d} {r['gflops']:7.2f} {r['backend']:12s} {r['device']:7s} "
            f"{r['precision']:5s} {r['ms_median']:9.1f} {r['ms_min']:7.1f} {r['fps']:6.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    for side in [int(arg) for arg in sys.argv[1:]] or [256]:
        print(format_table(bench_generators(side)), flush=True)
