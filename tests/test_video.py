"""Video and PNG writers: frame counts, sizes, atomic output."""

import numpy as np
import pytest

from smplpix_rt.errors import InputError
from smplpix_rt.video import VideoWriter, count_video_frames, open_writer


def _frames(n, h=48, w=64):
    return [np.full((h, w, 3), (i * 25) % 256, np.uint8) for i in range(n)]


def test_mp4_has_every_frame_and_size(tmp_path):
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, 30, 64, 48) as writer:
        for f in _frames(8):
            writer.write(f)
        assert not out.exists()  # nothing under the user's name until finished
    assert count_video_frames(out) == (8, 64, 48)
    assert not list(tmp_path.glob(".*partial*"))


def test_odd_sizes_are_padded(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, 24, 63, 47) as writer:
        for f in _frames(3, 47, 63):
            writer.write(f)
    assert count_video_frames(out) == (3, 64, 48)


def test_abort_leaves_no_file_and_keeps_the_old_one(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    writer = VideoWriter(out, 30, 64, 48)
    writer.write(_frames(1)[0])
    writer.abort()
    assert out.read_bytes() == b"precious"
    assert not list(tmp_path.glob(".*partial*"))


def test_wrong_frame_shape_is_rejected(tmp_path):
    with VideoWriter(tmp_path / "x.mp4", 30, 64, 48) as writer:
        with pytest.raises(InputError, match="uint8"):
            writer.write(np.zeros((48, 64, 3), np.float32))
        writer.write(_frames(1)[0])


def test_png_folder(tmp_path):
    writer = open_writer(tmp_path / "frames", 30, 64, 48)
    for f in _frames(3):
        writer.write(f)
    writer.close()
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["00000.png", "00001.png", "00002.png"]


@pytest.mark.parametrize("name", ["clip.gif", "missing_dir/clip.mp4"])
def test_bad_outputs(tmp_path, name):
    with pytest.raises(InputError):
        open_writer(tmp_path / name, 30, 64, 48)
