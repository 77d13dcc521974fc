"""Generator quality on a dataset split: PSNR and SSIM per frame, with any runtime backend."""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.errors import InputError


@dataclass(frozen=True)
class FrameScore:
    """Metrics of one frame: its name, PSNR (dB) and SSIM."""

    name: str
    psnr: float
    ssim: float


@dataclass(frozen=True)
class EvalResult:
    """Quality of a generator on one split.

    Attributes:
        model: the generator file.
        data: the dataset folder.
        split: the split evaluated.
        backend: runtime description (backend, device, precision).
        psnr: mean PSNR in dB.
        ssim: mean SSIM.
        ms_per_frame: median generator time per frame (inference only).
        frames: per-frame scores.
    """

    model: Path
    data: Path
    split: str
    backend: str
    psnr: float
    ssim: float
    ms_per_frame: float
    frames: tuple[FrameScore, ...]

    def summary(self) -> dict:
        """JSON-ready summary (without the per-frame list)."""
        return {
            "model": str(self.model),
            "data": str(self.data),
            "split": self.split,
            "backend": self.backend,
            "frames": len(self.frames),
            "psnr": round(self.psnr, 4),
            "ssim": round(self.ssim, 5),
            "ms_per_frame": round(self.ms_per_frame, 3),
        }

    def write_csv(self, path: Path) -> None:
        """Write ``name,psnr,ssim`` per frame."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "psnr", "ssim"])
            for f in self.frames:
                writer.writerow([f.name, f"{f.psnr:.4f}", f"{f.ssim:.5f}"])


def check_dataset_for(manifest, data: Path) -> None:
    """Raise if a generator cannot be evaluated on a dataset.

    Raises:
        ModelFileError: the generator was trained for another encoding (SMPLpix layout) or body
            model (frames layout) than the dataset provides.
    """
    from smplpix_rt.generator.manifest import check_compatible
    from smplpix_rt.train.datasets import LAYOUT_SMPLPIX, read_dataset_info

    info = read_dataset_info(data)
    if info.layout == LAYOUT_SMPLPIX:
        check_compatible(manifest, manifest.body_model, "smplpix")
    else:
        check_compatible(manifest, info.body_model, manifest.encoding)


def score_runtime(runtime, split_tensors, progress: bool = True) -> tuple[list[FrameScore], float]:
    """Run ``runtime`` on every frame of a loaded split.

    Returns:
        Per-frame scores and the median inference time in milliseconds.
    """
    from tqdm import tqdm

    from smplpix_rt.train.metrics import psnr, ssim

    scores, times = [], []
    for i in tqdm(range(len(split_tensors)), desc="eval", unit="frame", disable=not progress or None, leave=False):
        planes = split_tensors.planes_of(i)
        start = time.perf_counter()
        image = runtime.infer(planes)
        times.append((time.perf_counter() - start) * 1000.0)
        prediction = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].clamp(0, 1)
        target = split_tensors.targets[i : i + 1].float() / 255.0
        scores.append(
            FrameScore(split_tensors.names[i], float(psnr(prediction, target)), float(ssim(prediction, target)))
        )
    return scores, float(np.median(times))


def evaluate(
    model: Path,
    data: Path,
    split: str = "test",
    backend: str = "auto",
    limit: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """PSNR and SSIM of a generator file on one split of a dataset.

    Args:
        model: generator file (``.onnx``, ``.safetensors``, ``.engine``, ...).
        data: dataset folder (either layout of :mod:`smplpix_rt.train.datasets`).
        split: ``train``, ``validation`` or ``test``.
        backend: runtime backend (``auto``, ``torch``, ``onnxruntime``, ``tensorrt``).
        limit: evaluate only the first ``limit`` frames.
        progress: show progress bars.

    Raises:
        InputError / ModelFileError: bad dataset, model file, or a model for another encoding
            or body model; image sizes the generator cannot take.
    """
    from smplpix_rt.runtime.loader import check_model_file, load_runtime
    from smplpix_rt.train.datasets import load_split

    _, manifest = check_model_file(model)
    check_dataset_for(manifest, data)
    tensors = load_split(data, split, manifest.encoding, limit=limit, progress=progress)
    height, width = tensors.size
    if height % manifest.size_multiple or width % manifest.size_multiple:
        raise InputError(f"{data}: images are {width}x{height}; {model} needs multiples of {manifest.size_multiple}")
    with load_runtime(model, backend=backend) as runtime:
        info = runtime.describe()
        scores, ms = score_runtime(runtime, tensors, progress)
    label = f"{info.backend} {info.device} {info.precision}"
    return EvalResult(
        Path(model),
        Path(data),
        split,
        label,
        float(np.mean([s.psnr for s in scores])),
        float(np.mean([s.ssim for s in scores])),
        ms,
        tuple(scores),
    )


__all__ = ["FrameScore", "EvalResult", "evaluate", "score_runtime", "check_dataset_for"]
