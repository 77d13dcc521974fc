"""The built wheel works outside the source tree: data files travel, the console entry points run.

Builds a wheel of this checkout, installs it (without dependencies: they come from the running
environment) into a fresh folder, and runs ``smplpix info`` and an 8-frame headless render of the
shipped default avatar from an unrelated working directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from smplpix_rt.video import count_video_frames

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict]:
    work = tmp_path_factory.mktemp("install")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work), str(ROOT)],
        check=True,
    )
    wheel = next(work.glob("smplpix_rt-*.whl"))
    target = work / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    return wheel, env


def _run(env: dict, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    code = "import sys; from smplpix_rt.cli.main import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_wheel_carries_code_data_and_viewer(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("smplpix_rt/shaders/") and n.endswith(".glsl") for n in names)
    assert "smplpix_rt/models/default.onnx" in names
    assert "smplpix_rt/models/anny_body.npz" in names
    assert "smplpix_viewer/main.py" in names
    assert not any(n.startswith("app/") for n in names)  # no top-level module called "app"
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "smplpix = smplpix_rt.cli.main:main" in text and "smplpix-viewer = smplpix_viewer.main:main" in text


@pytest.mark.gl
def test_info_and_render_from_another_folder(installed, tmp_path):
    _, env = installed
    info = _run(env, tmp_path, "info", "--json")
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert report["opengl"]["available"] is True
    assert report["model"]["body_model"] == "anny"
    assert str(tmp_path) not in report["model"]["path"] and str(ROOT) not in report["model"]["path"]

    out = tmp_path / "clip.mp4"
    render = _run(env, tmp_path, "render", "--frames", "8", "--size", "256", "--out", str(out))
    assert render.returncode == 0, render.stderr
    assert count_video_frames(out) == (8, 256, 256)
