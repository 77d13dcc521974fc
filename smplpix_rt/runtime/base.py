"""The interface every generator runtime (backend) implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from smplpix_rt.generator.manifest import Manifest


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

    @abstractmethod
    def infer(self, planes: tuple[np.ndarray, ...]) -> np.ndarray:
        """Run the generator on one G-buffer."""

    @abstractmethod
    def describe(self) -> RuntimeInfo:
        """Backend, device and precision of this runtime."""

    def release(self) -> None:
        """Free sessions, engines and device memory. Idempotent."""

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
