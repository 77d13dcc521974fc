"""The interface every generator runtime (backend) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from smplpix_rt.errors import InputError
from smplpix_rt.generator.manifest import PLANE_CHANNELS, Manifest


@dataclass(frozen=True)
class RuntimeInfo:
    """What a loaded runtime is.

    Attributes:
        backend: ``"torch"``, ``"onnxruntime"`` or ``"tensorrt"``.
        device: ``"cpu"`` or ``"cuda:N"``.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` or ``"int8"``.
        model_path: the file the runtime was loaded from.
        detail: one human-readable line (providers, engine version, ...).
    """

    backend: str
    device: str
    precision: str
    model_path: str
    detail: str = ""


class Runtime(ABC):
    """A loaded generator: G-buffer planes in, RGB image out.

    ``infer`` takes the planes of a :class:`~smplpix_rt.contracts.GBuffer` — one (H, W, 4) float32
    array per render target, row 0 at the top — and returns the image as (H, W, 3) float32 in
    [0, 1]. H and W must be multiples of ``manifest.size_multiple``.
    """

    manifest: Manifest
    _note: str = ""

    @abstractmethod
    def infer(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        """Run the generator on one G-buffer."""

    @abstractmethod
    def describe(self) -> RuntimeInfo:
        """Backend, device and precision of this runtime."""

    def release(self) -> None:  # noqa: B027 - a no-op default: backends without resources need not override it
        """Free sessions, engines and device memory. Idempotent."""

    def annotate(self, note: str) -> None:
        """Attach a remark (e.g. why this backend was chosen) shown in ``describe().detail``."""
        self._note = note

    def _detail(self, detail: str) -> str:
        """``detail`` with the remark from :meth:`annotate` appended."""
        return f"{detail}; {self._note}" if self._note else detail

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def validate_planes(manifest: Manifest, planes: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    """Check G-buffer planes against a manifest; returns them as C-contiguous float32 arrays.

    Args:
        manifest: the generator's manifest.
        planes: one (H, W, 4) float32 array per manifest input.

    Raises:
        InputError: wrong number of planes, shape, dtype, or a size that is not a multiple of
            ``manifest.size_multiple``.
    """
    if not isinstance(planes, (tuple, list)):
        raise InputError(f"infer takes a tuple of G-buffer planes, got {type(planes).__name__}")
    if len(planes) != len(manifest.inputs):
        raise InputError(
            f"this generator takes {len(manifest.inputs)} G-buffer plane(s) ({manifest.encoding} encoding), "
            f"got {len(planes)}"
        )
    checked = []
    for spec, plane in zip(manifest.inputs, planes, strict=True):
        if not isinstance(plane, np.ndarray) or plane.dtype != np.float32:
            kind = plane.dtype if isinstance(plane, np.ndarray) else type(plane).__name__
            raise InputError(f"{spec.name} must be a float32 numpy array, got {kind}")
        if plane.ndim != 3 or plane.shape[2] != PLANE_CHANNELS:
            raise InputError(f"{spec.name} must have shape (H, W, {PLANE_CHANNELS}), got {plane.shape}")
        if plane.shape[:2] != planes[0].shape[:2]:
            raise InputError(f"{spec.name} is {plane.shape[:2]}, the first plane is {planes[0].shape[:2]}")
        checked.append(np.ascontiguousarray(plane))
    height, width = planes[0].shape[:2]
    m = manifest.size_multiple
    if height == 0 or width == 0 or height % m or width % m:
        raise InputError(f"G-buffer size {width}x{height} must be a non-zero multiple of {m} for this generator")
    return tuple(checked)
