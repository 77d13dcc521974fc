"""Shared test configuration: markers that skip what this machine cannot run."""

from __future__ import annotations

import importlib.util
import shutil

import pytest


def _gl_available() -> bool:
    try:
        import moderngl

        ctx = moderngl.create_standalone_context(backend="egl")
        ctx.release()
        return True
    except Exception:
        return False


_GL = None


def pytest_collection_modifyitems(config, items):
    global _GL
    needs_gl = any(item.get_closest_marker("gl") or item.get_closest_marker("gui") for item in items)
    if needs_gl and _GL is None:
        _GL = _gl_available()
    reasons = {
        "gl": None if _GL else "no OpenGL context (install libegl1 libgl1)",
        "gui": None if (_GL and shutil.which("Xvfb")) else "needs Xvfb and OpenGL (install xvfb xauth)",
        "gpu": None if _cuda_available() else "no CUDA GPU",
        "trt": None if importlib.util.find_spec("tensorrt") else "TensorRT is not installed",
        "smplx": None if importlib.util.find_spec("smplx") else "smplx is not installed (pip install smplx)",
    }
    for item in items:
        for marker, reason in reasons.items():
            if reason and item.get_closest_marker(marker):
                item.add_marker(pytest.mark.skip(reason=reason))


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False
