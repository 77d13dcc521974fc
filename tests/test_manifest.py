"""The generator manifest: strict JSON round trips and storage in ONNX, safetensors and sidecars."""

from __future__ import annotations

import copy
import json
import pickle

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from safetensors.numpy import save_file

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.manifest import (
    METADATA_KEY,
    Architecture,
    InputSpec,
    Manifest,
    TrainingSummary,
    check_compatible,
    default_inputs,
    embed_in_onnx,
    read_manifest,
    read_sidecar,
    safetensors_metadata,
    sidecar_path,
    write_sidecar,
)


def make_manifest(**changes) -> Manifest:
    values = dict(
        body_model="anny",
        body_model_version="0.6.2",
        encoding="neural",
        inputs=default_inputs("neural"),
        architecture=Architecture("pixnet", {"in_channels": 8, "base_filters": 32}),
        resolution=(256, 192),
        size_multiple=32,
        training=TrainingSummary(steps=1200, wall_time_s=345.5, dataset="captures/alice", metrics={"psnr": 27.5}),
    )
    values.update(changes)
    return Manifest(**values)


def test_json_round_trip_keeps_every_field():
    manifest = make_manifest()
    again = Manifest.from_json(manifest.to_json())
    assert again == manifest
    assert again.in_channels == 8
    assert again.input_names == ("gbuffer0", "gbuffer1")
    assert again.architecture.kwargs() == {"in_channels": 8, "base_filters": 32}
    assert again.training.metrics["psnr"] == 27.5


def test_manifest_without_training_round_trips():
    manifest = make_manifest(training=None, encoding="smplpix", inputs=default_inputs("smplpix"))
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert manifest.in_channels == 3


def test_manifest_is_immutable_copyable_and_picklable():
    manifest = make_manifest()
    with pytest.raises(TypeError):
        manifest.architecture.params["in_channels"] = 3
    assert copy.deepcopy(manifest) == manifest
    assert pickle.loads(pickle.dumps(manifest)) == manifest
    assert hash(manifest) == hash(copy.deepcopy(manifest))


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda d: d.update(extra=1), "unknown field(s) ['extra']"),
        (lambda d: d.pop("encoding"), "lacks field(s) ['encoding']"),
        (lambda d: d.update(format_version=2), "format_version 2 is not supported"),
        (lambda d: d.update(size_multiple="32"), "'size_multiple' has the wrong type"),
        (lambda d: d.update(resolution=[250, 192]), "not a multiple of size_multiple"),
        (lambda d: d["inputs"][0].update(channels=[0, 5]), "channel 5"),
        (lambda d: d["architecture"]["params"].update(layers=[1, 2]), "must be an int, float, string or bool"),
        (lambda d: d["training"].update(epochs=3), "training has unknown field(s) ['epochs']"),
        (lambda d: d.update(precision="int4"), "precision 'int4' is unknown"),
    ],
)
def test_invalid_manifest_names_the_source_and_the_problem(edit, expected):
    data = make_manifest().to_dict()
    edit(data)
    with pytest.raises(ModelFileError) as info:
        Manifest.from_json(json.dumps(data), source="models/alice.onnx")
    assert "models/alice.onnx" in str(info.value)
    assert expected in str(info.value)


def test_manifest_that_is_not_json_is_reported():
    with pytest.raises(ModelFileError, match="not valid JSON"):
        Manifest.from_json("{not json", source="x.engine.json")


def test_direct_construction_validates():
    with pytest.raises(InputError, match="repeats a channel"):
        InputSpec("gbuffer0", (0, 0))
    with pytest.raises(InputError, match="input names repeat"):
        make_manifest(inputs=(InputSpec("gbuffer0", (0,)), InputSpec("gbuffer0", (1,))))
    with pytest.raises(InputError, match="no default channel selection; known: \\['neural', 'smplpix'\\]"):
        default_inputs("depth-only")


def test_check_compatible_rejects_other_body_model_and_encoding():
    manifest = make_manifest()
    check_compatible(manifest, "anny", "neural")
    with pytest.raises(ModelFileError, match="trained for body model 'anny'.*not 'smplx'"):
        check_compatible(manifest, "smplx", "neural")
    with pytest.raises(ModelFileError, match="reads the 'neural' G-buffer encoding, not 'smplpix'"):
        check_compatible(manifest, "anny", "smplpix")


def _tiny_onnx() -> onnx.ModelProto:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    return helper.make_model(graph)


def test_onnx_metadata_round_trip(tmp_path):
    model = _tiny_onnx()
    manifest = make_manifest()
    embed_in_onnx(model, make_manifest(body_model="smplx"))
    embed_in_onnx(model, manifest)  # replaces, never duplicates
    assert [p.key for p in model.metadata_props].count(METADATA_KEY) == 1
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    assert read_manifest(path) == manifest


def test_onnx_without_manifest_is_reported(tmp_path):
    path = tmp_path / "plain.onnx"
    onnx.save(_tiny_onnx(), path)
    with pytest.raises(ModelFileError, match="plain.onnx has no smplpix manifest"):
        read_manifest(path)


def test_safetensors_metadata_round_trip(tmp_path):
    manifest = make_manifest()
    path = tmp_path / "model.safetensors"
    save_file({"w": np.zeros(3, np.float32)}, str(path), metadata=safetensors_metadata(manifest))
    assert read_manifest(path) == manifest


def test_sidecar_round_trip_and_missing_sidecar(tmp_path):
    manifest = make_manifest()
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine bytes")
    assert write_sidecar(manifest, engine) == tmp_path / "model.engine.json" == sidecar_path(engine)
    assert read_sidecar(engine) == manifest
    assert read_manifest(engine) == manifest
    orphan = tmp_path / "other.pt"
    orphan.write_bytes(b"x")
    with pytest.raises(ModelFileError, match=r"other.pt.json is missing"):
        read_manifest(orphan)
