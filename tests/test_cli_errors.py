"""Bad input on the command line: one clear line on stderr, a non-zero exit, no traceback, no output file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

from smplpix_rt.cli.main import main
from smplpix_rt.generator.export import export_onnx
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs
from smplpix_rt.generator.networks import GeneratorGraph, build_network

pytestmark = pytest.mark.gl
SEQUENCE = (
    '{"format": "smplpix-pose-sequence", "version": 1, "body_model": "anny", "fps": 30, "frames": [{"pose": %s}]}'
)


def _export(path: Path, body_model: str = "anny") -> Path:
    net = build_network("pixnet", base_filters=8).eval()
    manifest = Manifest(
        body_model=body_model,
        body_model_version="test",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", {"base_filters": 8}),
        resolution=(64, 64),
        size_multiple=net.size_multiple,
    )
    return export_onnx(GeneratorGraph(net, manifest).eval(), manifest, path)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return _export(tmp_path_factory.mktemp("model") / "tiny.onnx")


def _fails(capsys, *argv: str, match: str) -> str:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code != 0
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    assert match.lower() in err.lower(), err
    return err


def _render(model: Path, out: Path, *extra: str) -> list[str]:
    return ["render", "--model", str(model), "--size", "64", "--frames", "2", "--out", str(out), *extra]


def test_tiny_model_renders(tiny_model, tmp_path, capsys):
    out = tmp_path / "ok.mp4"
    assert main(_render(tiny_model, out)) == 0
    assert out.is_file()


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "empty"),
        (bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)), "not a valid onnx"),
    ],
)
def test_garbage_model_files(tmp_path, capsys, content, match):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    out = tmp_path / "out.mp4"
    _fails(capsys, *_render(bad, out), match=match)
    assert not out.exists()


def test_truncated_model_file(tiny_model, tmp_path, capsys):
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(tiny_model.read_bytes()[: tiny_model.stat().st_size // 2])
    _fails(capsys, *_render(bad, tmp_path / "out.mp4"), match="cut.onnx")
    assert not (tmp_path / "out.mp4").exists()


def test_onnx_with_wrong_channel_count(tiny_model, tmp_path, capsys):
    model = onnx.load(str(tiny_model))
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 3
    bad = tmp_path / "three.onnx"
    onnx.save(model, str(bad))
    _fails(capsys, *_render(bad, tmp_path / "out.mp4"), match="channel")


def test_manifest_for_another_body_model(tmp_path, capsys):
    model = _export(tmp_path / "smplx.onnx", body_model="smplx")
    _fails(capsys, *_render(model, tmp_path / "out.mp4", "--body-model", "anny"), match="smplx")


def test_missing_smplx_files(tmp_path, capsys):
    model = _export(tmp_path / "smplx.onnx", body_model="smplx")
    err = _fails(
        capsys,
        *_render(model, tmp_path / "out.mp4", "--body-model-path", str(tmp_path / "nope")),
        match="SMPLX_NEUTRAL",
    )
    assert "smpl-x.is.tue.mpg.de" in err


def test_nan_and_unknown_joint_in_state(tiny_model, tmp_path, capsys):
    state = tmp_path / "state.json"
    state.write_text('{"body_model": "anny", "shape": {"height": NaN}}')
    _fails(capsys, *_render(tiny_model, tmp_path / "a.mp4", "--state", str(state)), match="finite")
    state.write_text('{"body_model": "anny", "pose": {"elbow.L": [0, 0, 90]}}')
    _fails(capsys, *_render(tiny_model, tmp_path / "b.mp4", "--state", str(state)), match="unknown joint")
    assert not list(tmp_path.glob("*.mp4"))


def test_unknown_joint_in_sequence(tiny_model, tmp_path, capsys):
    seq = tmp_path / "seq.json"
    seq.write_text(SEQUENCE % '{"no_such_bone": [0, 10, 0]}')
    _fails(capsys, *_render(tiny_model, tmp_path / "out.mp4", "--sequence", str(seq)), match="no_such_bone")
    assert not (tmp_path / "out.mp4").exists()


def test_failed_render_keeps_the_existing_output(tiny_model, tmp_path, capsys):
    out = tmp_path / "precious.mp4"
    out.write_bytes(b"old video")
    seq = tmp_path / "seq.json"
    seq.write_text(SEQUENCE % '{"root": [0, "x", 0]}')
    _fails(capsys, *_render(tiny_model, out, "--sequence", str(seq)), match="seq.json")
    assert out.read_bytes() == b"old video"


def test_no_opengl(tiny_model, tmp_path, capsys, monkeypatch):
    import moderngl

    def no_gl(*args, **kwargs):
        raise Exception("eglGetDisplay failed")

    monkeypatch.setattr(moderngl, "create_standalone_context", no_gl)
    _fails(capsys, *_render(tiny_model, tmp_path / "out.mp4"), match="libegl1")
    assert not (tmp_path / "out.mp4").exists()


def test_out_of_range_size_is_an_argument_error(tiny_model, tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "smplpix_rt.cli.main",
            "render",
            "--model",
            str(tiny_model),
            "--size",
            "100000",
            "--out",
            str(tmp_path / "x.mp4"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "size" in proc.stderr


def test_size_not_a_multiple_of_the_network(tiny_model, tmp_path, capsys):
    _fails(
        capsys,
        "render",
        "--model",
        str(tiny_model),
        "--size",
        "70",
        "--frames",
        "1",
        "--out",
        str(tmp_path / "x.mp4"),
        match="multiple",
    )


def test_interop_frame_path_where_it_cannot_work_is_one_line(tiny_model, tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is present: interop may work here")
    out = tmp_path / "x.mp4"
    _fails(capsys, *_render(tiny_model, out, "--frame-path", "interop"), match="interop frame path cannot work here")
    assert not out.exists()


def test_a_closed_output_pipe_is_not_an_error():
    # `smplpix info | head -1`: the reader is gone; no error text, the usual SIGPIPE status.
    import os

    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "smplpix_rt.cli.main", "info"], stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr.decode() == ""
