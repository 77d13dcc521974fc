"""``smplpix export`` / ``eval`` on a tiny SMPLpix-layout run: files, int8 report, and refusals."""

from __future__ import annotations

import importlib.util
import json

import pytest
from dataset_fixtures import smplpix_dataset

from smplpix_rt.cli.main import main
from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from smplpix_rt.train.trainer import TrainConfig, train

    root = tmp_path_factory.mktemp("export")
    data = smplpix_dataset(root / "data")
    config = TrainConfig(
        data=data,
        out=root / "run",
        steps=3,
        batch_size=2,
        val_every=3,
        checkpoint_every=3,
        arch_params={"depth": 3, "base_filters": 8},
        precision="fp32",
        progress=False,
        tensorboard=False,
    )
    train(config)
    return data, root / "run"


def test_export_writes_onnx_and_int8_with_report(trained_run, tmp_path, capsys):
    import onnx

    from smplpix_rt.generator.export import is_quantized
    from smplpix_rt.generator.manifest import read_manifest

    data, run = trained_run
    code = main(["export", str(run), "--onnx", str(tmp_path / "m.onnx"), "--int8", "--calib", str(data)])
    assert code == 0
    out = capsys.readouterr().out
    assert "int8 ->" in out and "PSNR" in out
    fp32 = onnx.load(str(tmp_path / "m.onnx"))
    assert fp32.opset_import[0].version >= 17 and not is_quantized(fp32)
    assert is_quantized(onnx.load(str(tmp_path / "m.int8.onnx")))
    manifest = read_manifest(tmp_path / "m.onnx")
    assert manifest.encoding == "smplpix" and manifest.training.steps == 3
    assert read_manifest(tmp_path / "m.int8.onnx").precision == "int8"


def test_eval_json_and_csv(trained_run, tmp_path, capsys):
    data, run = trained_run
    main(["export", str(run), "--onnx", str(tmp_path / "m.onnx")])
    capsys.readouterr()
    code = main(
        [
            "eval",
            "--model",
            str(tmp_path / "m.onnx"),
            "--data",
            str(data),
            "--split",
            "test",
            "--backend",
            "onnxruntime",
            "--json",
            "--csv",
            str(tmp_path / "frames.csv"),
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 4 and 0 < summary["psnr"] < 100 and -1 <= summary["ssim"] <= 1
    rows = (tmp_path / "frames.csv").read_text().splitlines()
    assert rows[0] == "name,psnr,ssim" and len(rows) == 5 and rows[1].startswith("00000.png,")


def test_export_refusals_write_nothing(trained_run, tmp_path, capsys):
    data, run = trained_run
    (tmp_path / "empty_run").mkdir()
    target = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "empty_run"), "--onnx", str(target)]) == 1
    assert "has no checkpoints" in capsys.readouterr().err
    assert main(["export", str(run), "--onnx", str(target), "--int8"]) == 1
    assert "--int8 needs --calib" in capsys.readouterr().err
    assert not target.exists()


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT is installed here")
def test_engine_without_tensorrt_is_a_clear_error(trained_run, tmp_path):
    from smplpix_rt.train.export import export_run

    _, run = trained_run
    with pytest.raises(BackendUnavailableError):
        export_run(run, tmp_path / "m.onnx", engine=tmp_path / "m.engine", fp16=True)
    assert list(tmp_path.iterdir()) == []


def test_model_for_another_encoding_is_refused(trained_run, tmp_path):
    from smplpix_rt.generator.export import export_onnx
    from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs
    from smplpix_rt.generator.networks import GeneratorGraph, build_network
    from smplpix_rt.train.evaluate import evaluate

    data, _ = trained_run
    params = {"in_channels": 8, "depth": 3, "base_filters": 8}
    manifest = Manifest(
        body_model="anny",
        body_model_version="test",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", params),
        resolution=(32, 32),
        size_multiple=8,
    )
    export_onnx(GeneratorGraph(build_network("pixnet", **params).eval(), manifest), manifest, tmp_path / "n.onnx")
    with pytest.raises(ModelFileError, match="'neural' G-buffer encoding"):
        evaluate(tmp_path / "n.onnx", data, progress=False)


def test_existing_run_folder_is_not_overwritten(trained_run):
    from smplpix_rt.train.trainer import TrainConfig, train

    data, run = trained_run
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    with pytest.raises(InputError, match="pass --resume"):
        train(TrainConfig(data=data, out=run, steps=2, progress=False))
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before
