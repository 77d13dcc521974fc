"""Small datasets written on the fly for the training tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def smplpix_dataset(root: Path, count: int = 4, size: int = 32) -> Path:
    """A tiny dataset in SMPLpix's layout: ``{train,validation,test}/{input,output}/%05d.png``."""
    rng = np.random.default_rng(0)
    for split in ("train", "validation", "test"):
        for side in ("input", "output"):
            (root / split / side).mkdir(parents=True)
        for i in range(count):
            image = np.full((size, size, 3), 255, np.uint8)
            image[8:24, 8:24] = rng.integers(0, 200, 3)
            Image.fromarray(image).save(root / split / "input" / f"{i:05d}.png")
            Image.fromarray(255 - image).save(root / split / "output" / f"{i:05d}.png")
    return root
