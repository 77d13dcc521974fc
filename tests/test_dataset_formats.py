"""Dataset layouts load as documented and reject bad folders with one clear error naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from smplpix_rt.errors import InputError
from smplpix_rt.train.datasets import load_split, read_dataset_info, smplpix_pairs


def make_smplpix_dataset(root, count=3, size=32, splits=("train", "validation", "test")):
    """SMPLpix layout: a coloured square on white as input, a darker copy as target."""
    rng = np.random.default_rng(0)
    for split in splits:
        for side in ("input", "output"):
            (root / split / side).mkdir(parents=True)
        for i in range(count):
            image = np.full((size, size, 3), 255, np.uint8)
            y, x = rng.integers(0, size // 2, 2)
            image[y : y + size // 2, x : x + size // 2] = rng.integers(0, 200, 3)
            Image.fromarray(image).save(root / split / "input" / f"{i:05d}.png")
            Image.fromarray(image // 2).save(root / split / "output" / f"{i:05d}.png")
    return root


def test_smplpix_layout_loads_as_documented(tmp_path):
    root = make_smplpix_dataset(tmp_path / "data")
    assert read_dataset_info(root).layout == "smplpix"
    split = load_split(root, "train", progress=False)
    assert split.encoding == "smplpix" and len(split) == 3 and split.size == (32, 32)
    assert split.names == ("00000.png", "00001.png", "00002.png")
    source = np.asarray(Image.open(root / "train" / "input" / "00001.png"), np.float32) / 255
    np.testing.assert_allclose(split.planes[1, :3].float().permute(1, 2, 0).numpy(), source, atol=1e-3)
    mask = split.planes[1, 3].numpy() > 0.5
    assert mask.any() and np.all(mask == (source < 254.5 / 255).any(axis=2))  # mask: not white
    target = np.asarray(Image.open(root / "train" / "output" / "00001.png"))
    np.testing.assert_array_equal(split.targets[1].permute(1, 2, 0).numpy(), target)
    planes = split.planes_of(0)
    assert len(planes) == 1 and planes[0].shape == (32, 32, 4) and planes[0].dtype == np.float32


def test_missing_split_folder_is_named(tmp_path):
    root = make_smplpix_dataset(tmp_path / "data", splits=("train",))
    with pytest.raises(InputError, match="no 'validation' split"):
        load_split(root, "validation", progress=False)
    (root / "train" / "output").rename(root / "train" / "targets")
    with pytest.raises(InputError, match="lacks its output/ folder"):
        smplpix_pairs(root, "train")


def test_unpaired_names_are_named(tmp_path):
    root = make_smplpix_dataset(tmp_path / "data")
    (root / "train" / "output" / "00002.png").rename(root / "train" / "output" / "00009.png")
    with pytest.raises(InputError, match="00002.png has no output"):
        load_split(root, "train", progress=False)


def test_size_mismatch_is_named(tmp_path):
    root = make_smplpix_dataset(tmp_path / "data")
    Image.new("RGB", (24, 32), "white").save(root / "train" / "output" / "00001.png")
    with pytest.raises(InputError, match=r"output/00001.png is 24x32 pixels, expected 32x32"):
        load_split(root, "train", progress=False)


def test_corrupt_image_is_named(tmp_path):
    root = make_smplpix_dataset(tmp_path / "data")
    (root / "train" / "input" / "00002.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(InputError, match=r"input/00002.png is not a readable image"):
        load_split(root, "train", progress=False)


def test_not_a_dataset(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_dataset_info(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="is not a dataset"):
        read_dataset_info(tmp_path / "empty")


def test_frames_layout_description_is_checked(tmp_path):
    root = tmp_path / "frames"
    root.mkdir()
    (root / "dataset.json").write_text(json.dumps({"format": "smplpix-rt-frames", "format_version": 7}))
    with pytest.raises(InputError, match="format_version 7 is not supported"):
        read_dataset_info(root)
    (root / "dataset.json").write_text("{not json")
    with pytest.raises(InputError, match="dataset.json is not valid JSON"):
        read_dataset_info(root)


def _frames_dataset(root, frames):
    (root / "train" / "images").mkdir(parents=True)
    (root / "dataset.json").write_text(
        json.dumps({"format": "smplpix-rt-frames", "format_version": 1, "body_model": "anny"})
    )
    Image.new("RGB", (32, 32), "white").save(root / "train" / "images" / "a.png")
    (root / "train" / "fits.json").write_text(json.dumps({"frames": frames}))
    return root


_CAMERA = {
    "width": 32,
    "height": 32,
    "fx": 40.0,
    "fy": 40.0,
    "cx": 15.5,
    "cy": 15.5,
    "rotation": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
    "translation": [0, 0.9, 3.0],
}


def test_frames_layout_fits_errors_name_the_file_and_frame(tmp_path):
    from smplpix_rt.body import load_body_model
    from smplpix_rt.train.datasets import read_fits

    body = load_body_model("anny")
    good = {"image": "images/a.png", "body": {"pose": {"lowerarm01.L": [0, -40, 0]}}, "camera": _CAMERA}
    root = _frames_dataset(tmp_path / "ok", [good])
    (fit,) = read_fits(root, "train", body)
    assert fit.camera.width == 32 and np.isclose(np.degrees(fit.params.pose[body.joint_index("lowerarm01.L"), 1]), -40)

    typo = {**good, "body": {"pose": {"lowerarm1.L": [0, 0, 0]}}}
    with pytest.raises(InputError, match=r"fits.json frame 1: unknown joint name 'lowerarm1.L'"):
        read_fits(_frames_dataset(tmp_path / "typo", [good, typo]), "train", body)
    missing = {**good, "image": "images/b.png"}
    with pytest.raises(InputError, match=r"frame 0: image .*b.png does not exist"):
        read_fits(_frames_dataset(tmp_path / "missing", [missing]), "train", body)
    bigger = {**good, "camera": {**_CAMERA, "width": 64}}
    with pytest.raises(InputError, match="frame 1: camera is 64x32, earlier frames 32x32"):
        read_fits(_frames_dataset(tmp_path / "size", [good, bigger]), "train", body)
    no_camera = {"image": "images/a.png", "body": {}}
    with pytest.raises(InputError, match="camera needs the keys"):
        read_fits(_frames_dataset(tmp_path / "nocam", [no_camera]), "train", body)
