"""What a training run shows a person: sample grids, metric logs, curves and TensorBoard events.

Files under the run folder: ``metrics.jsonl`` (one JSON object per logged step), ``curves.png``
(training loss and validation PSNR / SSIM), ``samples/step_<N>.png`` and ``samples/latest.png``
(rows of input | prediction | target), ``tb/`` (TensorBoard events, when tensorboard is installed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from smplpix_rt.generator.fileio import atomic_target


def input_preview(planes: torch.Tensor, encoding: str) -> torch.Tensor:
    """A viewable RGB picture of G-buffer planes.

    Args:
        planes: (N, 4 * P, H, W) G-buffer channels.
        encoding: their encoding name (``neural``: rest coordinates as colour on black;
            otherwise the first three channels).

    Returns:
        (N, 3, H, W) float32 in [0, 1].
    """
    x = planes.float()
    if encoding == "neural":
        return ((x[:, :3] + 1.0) * 0.5 * x[:, 3:4]).clamp(0, 1)
    return x[:, :3].clamp(0, 1)


def sample_grid(previews: torch.Tensor, predictions: torch.Tensor, targets: torch.Tensor) -> np.ndarray:
    """Rows of input | prediction | target.

    Args:
        previews, predictions, targets: (N, 3, H, W) float in [0, 1].

    Returns:
        (N * H, 3 * W, 3) uint8 image.
    """
    rows = torch.cat([previews, predictions, targets], dim=3)  # N, 3, H, 3W
    grid = torch.cat(list(rows), dim=1)  # 3, N*H, 3W
    return (grid.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_png(path: Path, image: np.ndarray) -> None:
    """Write an (H, W, 3) uint8 image as PNG atomically."""
    from PIL import Image

    with atomic_target(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")


class RunLog:
    """Appends metrics to ``metrics.jsonl`` and TensorBoard; draws ``curves.png``.

    Args:
        run: the run folder.
        tensorboard: also write TensorBoard events (skipped if tensorboard is not installed).
    """

    def __init__(self, run: Path, tensorboard: bool = True) -> None:
        self.run = Path(run)
        self.path = self.run / "metrics.jsonl"
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # optional dependency (pip install smplpix-rt[train])
                SummaryWriter = None
            if SummaryWriter is not None:
                self._writer = SummaryWriter(str(self.run / "tb"))

    def log(self, step: int, values: dict[str, float]) -> None:
        """Record ``values`` (e.g. ``{"train/loss": 0.1}``) at ``step``."""
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"step": step, **{k: float(v) for k, v in values.items()}}) + "\n")
        if self._writer is not None:
            for key, value in values.items():
                self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def history(self) -> list[dict]:
        """Everything logged so far (also by earlier, resumed sessions)."""
        if not self.path.is_file():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
        return rows

    def plot(self, path: Path | None = None) -> Path:
        """Draw training loss and validation PSNR / SSIM against the step into ``curves.png``."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = self.history()
        path = Path(path) if path is not None else self.run / "curves.png"
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
        for ax, key, label in zip(
            axes,
            ("train/loss", "val/psnr", "val/ssim"),
            ("training loss", "validation PSNR (dB)", "validation SSIM"),
            strict=True,
        ):
            points = [(r["step"], r[key]) for r in rows if key in r]
            if points:
                steps, values = zip(*points, strict=True)
                ax.plot(steps, values, marker="o" if key.startswith("val") else None, markersize=3, linewidth=1.2)
            ax.set_title(label)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
        if any("train/loss" in r for r in rows):
            axes[0].set_yscale("log")
        fig.tight_layout()
        with atomic_target(path) as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)
        return path

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


__all__ = ["input_preview", "sample_grid", "save_png", "RunLog"]
