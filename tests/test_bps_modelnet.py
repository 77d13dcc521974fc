"""ModelNet40 BPS-MLP demo: learns generated shapes; the HDF5 loader and the command handle real layouts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from smplpix_rt.bps.modelnet import BpsMlpConfig, ShapeDataset, load_modelnet40, make_classifier, train_bps_mlp
from smplpix_rt.bps.synthetic_shapes import SHAPE_CLASSES, synthetic_shapes
from smplpix_rt.errors import InputError


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Small training runs here are fastest single-threaded, and immune to other processes on the cores."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_synthetic_shapes_are_balanced_and_reproducible():
    points, labels, names = synthetic_shapes(4, 256, seed=3)
    assert points.shape == (20, 256, 3) and points.dtype == np.float32 and names == SHAPE_CLASSES
    np.testing.assert_array_equal(np.bincount(labels), [4] * 5)
    again, _, _ = synthetic_shapes(4, 256, seed=3)
    np.testing.assert_array_equal(points, again)


def test_classifier_has_the_published_layout():
    from torch import nn

    model = make_classifier(512, 40)
    block = [nn.Linear, nn.ReLU, nn.BatchNorm1d, nn.Dropout]
    assert [type(m) for m in model] == [nn.BatchNorm1d, *block, *block, nn.Linear]
    linears = [m for m in model if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(512, 512), (512, 512), (512, 40)]
    assert all(m.p == 0.8 for m in model if isinstance(m, nn.Dropout))
    assert sum(isinstance(m, nn.BatchNorm1d) for m in model) == 3


def test_bps_mlp_learns_generated_shapes():
    train, train_y, names = synthetic_shapes(40, 1024, seed=1)
    test, test_y, _ = synthetic_shapes(20, 1024, seed=2)
    data = ShapeDataset(train, train_y, test, test_y, names)
    result = train_bps_mlp(data, BpsMlpConfig(epochs=40, batch_size=64, dropout=0.5), progress=False)
    assert result.test_accuracy >= 0.5, result.history  # chance is 0.2
    assert result.history[-1] == (40, result.test_accuracy)


def _write_modelnet(folder, n_per_class=6, n_points=256, split_files=(2, 1)):
    h5py = pytest.importorskip("h5py")
    folder.mkdir(parents=True)
    for split, n_files in zip(("train", "test"), split_files, strict=True):
        points, labels, _ = synthetic_shapes(n_per_class, n_points, seed=len(split))
        for i, chunk in enumerate(np.array_split(np.arange(len(labels)), n_files)):
            with h5py.File(folder / f"ply_data_{split}{i}.h5", "w") as f:
                f["data"] = points[chunk]
                f["label"] = labels[chunk, None].astype(np.uint8)
    (folder / "shape_names.txt").write_text("\n".join(SHAPE_CLASSES) + "\n")


def test_loader_reads_the_modelnet_layout(tmp_path):
    _write_modelnet(tmp_path / "modelnet40_ply_hdf5_2048")
    for path in (tmp_path, tmp_path / "modelnet40_ply_hdf5_2048"):  # the folder or its parent
        data = load_modelnet40(path)
        assert data.train_points.shape == (30, 256, 3) and data.test_points.shape == (30, 256, 3)
        assert data.train_labels.dtype == np.int64 and data.class_names == SHAPE_CLASSES


def test_modelnet40_command_trains_and_writes_results(tmp_path, capsys):
    from smplpix_rt.cli.main import main

    _write_modelnet(tmp_path / "data")
    args = ["bps", "modelnet40", "--data", str(tmp_path / "data"), "--epochs", "3", "--out", str(tmp_path / "run")]
    code = main([*args, "--json"])
    assert code == 0
    metrics = json.loads(capsys.readouterr().out)
    assert 0 <= metrics["test_accuracy"] <= 1 and metrics["train_clouds"] == 30 and metrics["classes"] == 5
    assert (tmp_path / "run" / "bps_mlp.safetensors").is_file()
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["config"]["radius"] == 1.7


def test_bad_modelnet_folders_give_clear_errors(tmp_path, capsys):
    h5py = pytest.importorskip("h5py")
    from smplpix_rt.cli.main import main

    with pytest.raises(InputError, match="does not exist"):
        load_modelnet40(tmp_path / "missing")
    with pytest.raises(InputError, match="no ModelNet40 HDF5 files"):
        load_modelnet40(tmp_path)
    folder = tmp_path / "bad"
    folder.mkdir()
    with h5py.File(folder / "ply_data_train0.h5", "w") as f:
        f["points"] = np.zeros((2, 8, 3), np.float32)
    (folder / "ply_data_test0.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="lacks the dataset"):
        load_modelnet40(folder)
    assert main(["bps", "modelnet40", "--data", str(folder)]) == 1
    assert "lacks the dataset(s) ['data', 'label']" in capsys.readouterr().err
    with h5py.File(folder / "ply_data_train0.h5", "w") as f:
        f["data"], f["label"] = np.zeros((2, 8, 3), np.float32), np.zeros((2, 1), np.uint8)
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        load_modelnet40(folder)
