#!/usr/bin/env python
"""Check the TensorRT backend on a machine with an NVIDIA GPU and TensorRT 10+.

Builds an engine from an ONNX generator (yours, or a randomly initialized pixnet), runs it next
to ONNX Runtime on the CPU on the same G-buffers, and prints one JSON object: the largest
absolute difference between the two images and the milliseconds per frame of each.

    python scripts/verify_tensorrt.py                         # random pixnet at 256x256
    python scripts/verify_tensorrt.py --onnx avatar.onnx --fp32

Exit status 0 when the difference is within --atol, 1 otherwise, 2 on an error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # runs from a checkout, installed or not

from smplpix_rt.errors import SmplpixError  # noqa: E402
from smplpix_rt.generator.manifest import PLANE_CHANNELS, Architecture, Manifest, default_inputs  # noqa: E402
from smplpix_rt.runtime import OrtRuntime, TensorRTRuntime, build_engine, time_runtime  # noqa: E402


def _random_pixnet(folder: Path, size: int) -> Path:
    import torch

    from smplpix_rt.generator.export import export_onnx
    from smplpix_rt.generator.networks import GeneratorGraph, build_network

    torch.manual_seed(0)
    net = build_network("pixnet", in_channels=8).eval()
    manifest = Manifest(
        body_model="anny",
        body_model_version="verify",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", {"in_channels": 8}),
        resolution=(size, size),
        size_multiple=net.size_multiple,
    )
    return export_onnx(GeneratorGraph(net, manifest).eval(), manifest, folder / "pixnet.onnx")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, help="fp32 or fp16 generator ONNX (default: a random pixnet)")
    parser.add_argument("--size", type=int, default=256, help="frame size for the random pixnet (default 256)")
    parser.add_argument("--fp32", action="store_true", help="build without fp16 kernels")
    parser.add_argument("--runs", type=int, default=20, help="timed frames per backend")
    parser.add_argument("--atol", type=float, default=2e-2, help="allowed max abs difference (fp16: ~1e-2)")
    parser.add_argument("--keep", type=Path, help="folder to keep the engine, sidecar and timing cache in")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        with tempfile.TemporaryDirectory(prefix="smplpix-trt-") as tmp:
            folder = args.keep or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            onnx_path = args.onnx or _random_pixnet(folder, args.size)
            engine = build_engine(
                onnx_path, folder / "model.engine", fp16=not args.fp32, timing_cache=folder / "timing.cache"
            )
            with TensorRTRuntime(engine) as trt_runtime, OrtRuntime(onnx_path) as ort_runtime:
                report = _compare(trt_runtime, ort_runtime, args.runs)
    except SmplpixError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report["ok"] = report["max_abs_error"] <= args.atol
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def _compare(trt_runtime: TensorRTRuntime, ort_runtime: OrtRuntime, runs: int) -> dict:
    manifest = trt_runtime.manifest
    height, width = manifest.resolution
    rng = np.random.default_rng(0)
    errors = []
    for _ in range(3):
        planes = tuple(rng.random((height, width, PLANE_CHANNELS), dtype=np.float32) for _ in manifest.inputs)
        errors.append(float(np.abs(trt_runtime.infer(planes) - ort_runtime.infer(planes)).max()))
    info = trt_runtime.describe()
    return {
        "engine": info.model_path,
        "tensorrt": info.detail,
        "precision": info.precision,
        "size": [height, width],
        "max_abs_error": max(errors),
        "tensorrt_ms_per_frame": round(time_runtime(trt_runtime, (height, width), runs=runs, warmup=5), 3),
        "onnxruntime_cpu_ms_per_frame": round(time_runtime(ort_runtime, (height, width), runs=max(3, runs // 4)), 3),
    }


if __name__ == "__main__":
    sys.exit(main())
