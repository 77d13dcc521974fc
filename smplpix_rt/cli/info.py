"""``smplpix info``: versions, OpenGL renderer, available backends, and a model's manifest."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
from pathlib import Path

_PACKAGES = [
    "smplpix-rt",
    "numpy",
    "torch",
    "moderngl",
    "numba",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "av",
    "imgui-bundle",
    "glfw",
    "smplx",
    "anny",
    "tensorrt",
    "cuda-bindings",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show versions, OpenGL renderer, backends and a model's manifest")
    p.add_argument("--model", type=Path, default=None, help="model whose manifest to show (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def _versions() -> dict:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _gl() -> dict:
    from smplpix_rt.errors import GLUnavailableError
    from smplpix_rt.raster.context import create_headless_context, gl_info

    try:
        ctx = create_headless_context()
    except GLUnavailableError as e:
        return {"available": False, "reason": str(e)}
    try:
        from smplpix_rt.runtime.device import context_frame_path

        path, reason = context_frame_path(ctx)
        return {"available": True, **gl_info(ctx), "frame_path": {"path": path, "reason": reason}}
    finally:
        ctx.release()


def _manifest(path: Path | None) -> dict:
    from smplpix_rt.errors import SmplpixError
    from smplpix_rt.generator.manifest import read_manifest
    from smplpix_rt.pipeline import default_model_path

    if path is None:
        try:
            path = default_model_path()
        except SmplpixError as e:
            return {"error": str(e)}
    return {"path": str(path), **json.loads(read_manifest(path).to_json())}


def run(args: argparse.Namespace) -> int:
    from smplpix_rt.runtime.loader import available_backends

    report = {
        "versions": _versions(),
        "opengl": _gl(),
        "backends": available_backends(),
        "model": _manifest(args.model),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    for key, value in report.items():
        print(f"{key}:")
        print(json.dumps(value, indent=2))
    return 0
