"""Argument types shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def image_size(text: str) -> tuple[int, int]:
    """``256`` or ``320x256`` (width x height) → (width, height)."""
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be N or WxH, got {text!r}") from None
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(16 <= p <= 4096 for p in parts):
        raise argparse.ArgumentTypeError(f"size must be N or WxH with 16 <= N <= 4096, got {text!r}")
    return parts[0], parts[1]


def _at_least(text: str, minimum: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1 (argparse type)."""
    return _at_least(text, 1, "a positive integer")


def count(text: str) -> int:
    """A whole number >= 0 (argparse type)."""
    return _at_least(text, 0, "a whole number >= 0")


def nice_steps(text: str) -> int:
    """A nice-value increment, 0 to 19 (argparse type)."""
    value = _at_least(text, 0, "a whole number from 0 to 19")
    if value > 19:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to 19, got {text!r}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --backend, --body-model, --body-model-path."""
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="generator file (.onnx, .safetensors, .pt, .engine); default: the shipped avatar",
    )
    parser.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnxruntime", "tensorrt"],
        help="generator runtime (default: the fastest available)",
    )
    parser.add_argument(
        "--body-model", default=None, help="body model name (default: the one the generator was trained for)"
    )
    parser.add_argument(
        "--body-model-path",
        type=Path,
        default=None,
        help="body model files, for SMPL-X: a folder with SMPLX_NEUTRAL.npz or the file itself",
    )


def add_frame_path_argument(parser: argparse.ArgumentParser) -> None:
    """--frame-path: keep frames on the GPU (CUDA–OpenGL interop) or copy through host memory."""
    parser.add_argument(
        "--frame-path",
        default="auto",
        choices=["auto", "host", "interop"],
        help="interop keeps G-buffer and output on the GPU (NVIDIA OpenGL + a CUDA generator); "
        "host copies through host memory; auto (default) takes interop where it works",
    )
