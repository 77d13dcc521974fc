"""The synthetic appearance: body parts, garment layout, and reproducible datasets."""

from __future__ import annotations

import numpy as np
import pytest

from smplpix_rt.train.synth import SynthConfig, body_part_labels, write_synthetic_dataset
from smplpix_rt.train.synth_render import PART_NAMES, garment_layout


@pytest.fixture(scope="module")
def anny():
    from smplpix_rt.body import load_body_model

    return load_body_model("anny")


def test_every_part_is_on_the_body_where_expected(anny):
    parts = body_part_labels(anny)
    rest = anny.topology.rest_coords
    names = np.array(PART_NAMES)[parts]
    assert set(names) == set(PART_NAMES)
    mean_height = {name: rest[names == name, 1].mean() for name in PART_NAMES}
    assert mean_height["shoes"] < mean_height["trousers"] < mean_height["shirt"] < mean_height["hair"]
    layout = garment_layout(rest, parts)
    assert layout.sole_y < layout.cuff_y[0] < layout.cuff_y[1] < layout.belt_y[0] < layout.belt_y[1] < layout.face_y


@pytest.mark.gl
def test_same_seed_writes_the_same_dataset(anny, tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        write_synthetic_dataset(SynthConfig(tmp_path / name, 2, 1, 1, seed=5, size=48), body=anny, progress=False)
    for split in ("train", "validation", "test"):
        assert (tmp_path / "a" / split / "fits.json").read_text() == (tmp_path / "b" / split / "fits.json").read_text()
    a = np.asarray(Image.open(tmp_path / "a" / "train" / "images" / "000001.png"))
    b = np.asarray(Image.open(tmp_path / "b" / "train" / "images" / "000001.png"))
    np.testing.assert_array_equal(a, b)
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 50  # shaded, patterned body on a plain background
