"""Importing a SMPLpix checkpoint: the ONNX model must equal the network run the SMPLpix way."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.networks import SmplpixUNet
from smplpix_rt.train.import_smplpix import SMPLX_VERTICES, import_smplpix, read_vertex_colors


def _smplpix_checkpoint(path, seed=0):
    """A state dict under the SMPLpix U-Net's names with random weights and BatchNorm statistics."""
    torch.manual_seed(seed)
    net = SmplpixUNet(in_channels=3, out_channels=3, start_filters=8, n_blocks=3)
    state = net.state_dict()
    for key, value in state.items():
        if value.is_floating_point():
            state[key] = torch.rand_like(value) + 0.5 if key.endswith("running_var") else torch.randn_like(value) * 0.3
    torch.save(state, path)
    return state


def _colors_file(path, rows=SMPLX_VERTICES):
    rgb = np.random.default_rng(0).integers(0, 256, (rows, 3))
    path.write_text("\n".join(" ".join(str(v) for v in row) for row in rgb) + "\n")
    return rgb


def _run_smplpix_way(state, image):
    """SMPLpix feeds (C, W, H) tensors: transpose in, run, transpose the output back."""
    net = SmplpixUNet(in_channels=3, out_channels=3, start_filters=8, n_blocks=3)
    net.load_state_dict(state)
    net.eval()
    x = torch.from_numpy(image).transpose(0, 2)[None]  # (1, 3, W, H)
    with torch.inference_mode():
        y = net(x)[0]  # (3, W, H)
    return y.transpose(0, 2).numpy()  # (H, W, 3)


def test_imported_model_reproduces_smplpix_inference(tmp_path):
    import onnxruntime as ort

    state = _smplpix_checkpoint(tmp_path / "network.h5")
    rgb = _colors_file(tmp_path / "colors.txt")
    result = import_smplpix(tmp_path / "network.h5", tmp_path / "colors.txt", tmp_path / "avatar.onnx", size=64)
    assert result.params == {"in_channels": 3, "out_channels": 3, "start_filters": 8, "n_blocks": 3}

    # A non-square image: a wrong transposition could not pass.
    image = np.random.default_rng(1).random((48, 80, 3)).astype(np.float32)
    expected = _run_smplpix_way(state, image)
    session = ort.InferenceSession(str(tmp_path / "avatar.onnx"), providers=["CPUExecutionProvider"])
    plane = np.concatenate([image, np.ones((48, 80, 1), np.float32)], axis=2)[None]
    (actual,) = session.run(None, {"gbuffer0": plane})
    np.testing.assert_allclose(actual[0], expected, atol=2e-5, rtol=0)

    colors = read_vertex_colors(tmp_path / "avatar.onnx")
    np.testing.assert_allclose(colors, rgb / 255.0, atol=1e-6)


def test_imported_model_has_smplpix_manifest(tmp_path):
    from smplpix_rt.generator.manifest import read_manifest

    _smplpix_checkpoint(tmp_path / "network.h5")
    _colors_file(tmp_path / "colors.txt")
    import_smplpix(tmp_path / "network.h5", tmp_path / "colors.txt", tmp_path / "avatar.onnx", size=64)
    manifest = read_manifest(tmp_path / "avatar.onnx")
    assert (manifest.body_model, manifest.encoding, manifest.architecture.name) == ("smplx", "smplpix", "smplpix-unet")
    assert manifest.resolution == (64, 64) and manifest.inputs[0].channels == (0, 1, 2)


def test_bad_inputs_give_clear_errors_and_write_nothing(tmp_path):
    _smplpix_checkpoint(tmp_path / "network.h5")
    _colors_file(tmp_path / "short.txt", rows=100)
    out = tmp_path / "avatar.onnx"
    with pytest.raises(InputError, match="10475 rows"):
        import_smplpix(tmp_path / "network.h5", tmp_path / "short.txt", out)
    _colors_file(tmp_path / "colors.txt")
    torch.save({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.h5")
    with pytest.raises(ModelFileError, match="not a SMPLpix U-Net"):
        import_smplpix(tmp_path / "other.h5", tmp_path / "colors.txt", out)
    (tmp_path / "broken.h5").write_bytes(b"not a torch file")
    with pytest.raises(ModelFileError, match="broken.h5"):
        import_smplpix(tmp_path / "broken.h5", tmp_path / "colors.txt", out)
    assert list(tmp_path.glob("*.onnx")) == [] and not any(p.name.startswith(".") for p in tmp_path.iterdir())
