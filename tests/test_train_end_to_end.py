"""From a fresh install: synth → train (a short run) → export → render --model, at 64² with a few steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from smplpix_rt.cli.main import main


@pytest.fixture(scope="module")
def synth_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data = root / "data"
    assert (
        main(
            [
                "synth",
                "--out",
                str(data),
                "--count",
                "6",
                "--val-count",
                "2",
                "--test-count",
                "2",
                "--size",
                "64",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    return data


@pytest.mark.gl
def test_synth_writes_the_frames_and_fits_layout(synth_data):
    described = json.loads((synth_data / "dataset.json").read_text())
    assert described["format"] == "smplpix-rt-frames" and described["body_model"] == "anny"
    for split, count in (("train", 6), ("validation", 2), ("test", 2)):
        frames = json.loads((synth_data / split / "fits.json").read_text())["frames"]
        assert len(frames) == count
        image = np.asarray(Image.open(synth_data / split / frames[0]["image"]))
        assert image.shape == (64, 64, 3)
        assert frames[0]["camera"]["width"] == 64 and "pose" in frames[0]["body"]
        background = image[0, 0]
        assert (np.abs(image.astype(int) - background).sum(axis=2) > 30).mean() > 0.03  # a body is in view
    # held-out views: validation / test yaws never occur in training
    from smplpix_rt.train.synth import HELD_OUT_YAW_CENTRES, HELD_OUT_YAW_HALF_WIDTH

    def yaws(split):
        frames = json.loads((synth_data / split / "fits.json").read_text())["frames"]
        out = []
        for f in frames:
            r = np.array(f["camera"]["rotation"])
            forward = r[2]  # looking direction; the orbit camera looks back at the body
            out.append(np.degrees(np.arctan2(-forward[0], -forward[2])) % 360)
        return out

    def held_out(yaw):
        return any(abs((yaw - c + 180) % 360 - 180) < HELD_OUT_YAW_HALF_WIDTH + 0.5 for c in HELD_OUT_YAW_CENTRES)

    assert not any(held_out(y) for y in yaws("train"))
    assert all(held_out(y) for y in yaws("validation") + yaws("test"))


@pytest.mark.gl
def test_synth_refuses_to_overwrite(synth_data, capsys):
    assert main(["synth", "--out", str(synth_data), "--count", "2", "--size", "64"]) == 1
    assert "already exists" in capsys.readouterr().err


@pytest.mark.gl
@pytest.mark.slow
def test_synth_train_export_render(synth_data, tmp_path, capsys):
    run, onnx_path, frames = tmp_path / "run", tmp_path / "avatar.onnx", tmp_path / "frames"
    assert (
        main(
            [
                "train",
                "--data",
                str(synth_data),
                "--out",
                str(run),
                "--steps",
                "4",
                "--batch-size",
                "2",
                "--val-every",
                "2",
                "--filters",
                "8",
                "--arch-param",
                "depth=3",
                "--no-tensorboard",
            ]
        )
        == 0
    )
    for name in ("config.json", "metrics.jsonl", "curves.png", "samples/latest.png", "checkpoints/best.safetensors"):
        assert (run / name).is_file(), name
    grid = Image.open(run / "samples" / "latest.png")
    assert grid.size == (3 * 64, 2 * 64)  # input | prediction | target, one row per validation frame

    # resume: continue the same run to 6 steps
    assert (
        main(
            [
                "train",
                "--data",
                str(synth_data),
                "--out",
                str(run),
                "--steps",
                "6",
                "--batch-size",
                "2",
                "--val-every",
                "2",
                "--resume",
                "--no-tensorboard",
            ]
        )
        == 0
    )
    assert (run / "checkpoints" / "step_00000006.safetensors").is_file()
    assert "trained 6 steps" in capsys.readouterr().out

    assert main(["export", str(run), "--onnx", str(onnx_path)]) == 0
    assert main(["render", "--model", str(onnx_path), "--size", "64", "--frames", "3", "--out", str(frames)]) == 0
    written = sorted(frames.glob("*.png"))
    assert len(written) == 3 and Image.open(written[0]).size == (64, 64)

    capsys.readouterr()
    assert main(["eval", "--model", str(onnx_path), "--data", str(synth_data), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 2 and summary["split"] == "test" and 0 < summary["psnr"] < 100
