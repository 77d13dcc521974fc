"""Generator networks, the graph wrapper, ONNX export, int8 quantization and safetensors files."""

from __future__ import annotations

import os

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.export import export_onnx, load_graph, onnx_state_dict, quantize_int8, save_torch
from smplpix_rt.generator.fileio import atomic_target
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs, read_manifest, write_sidecar
from smplpix_rt.generator.networks import (
    GeneratorGraph,
    PixNet,
    SmplpixUNet,
    build_from_manifest,
    build_network,
    count_flops,
    fold_batchnorm,
)

TINY_PIXNET = {"in_channels": 8, "base_filters": 8, "depth": 3, "max_filters": 16}


def randomize_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm non-trivial statistics so folding and export are really exercised."""
    gen = torch.Generator().manual_seed(seed)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            module.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)
    return net


def make_graph(arch: str = "pixnet", encoding: str = "neural", size: int = 32, **params) -> GeneratorGraph:
    torch.manual_seed(0)
    inputs = default_inputs(encoding)
    params = params or (dict(TINY_PIXNET) if arch == "pixnet" else {"in_channels": 3, "start_filters": 4})
    net = randomize_batchnorm(build_network(arch, **params).eval())
    manifest = Manifest(
        body_model="anny",
        body_model_version="0.6.2",
        encoding=encoding,
        inputs=inputs,
        architecture=Architecture(arch, params),
        resolution=(size, size),
        size_multiple=net.size_multiple,
    )
    return GeneratorGraph(net, manifest).eval()


def gbuffer(encoding: str, height: int, width: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Smooth synthetic G-buffer planes: a body-like blob on an empty background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height * rng.uniform(0.4, 0.6), width * rng.uniform(0.4, 0.6)
    mask = (((yy - cy) / (0.4 * height)) ** 2 + ((xx - cx) / (0.25 * width)) ** 2 < 1).astype(np.float32)
    u, v = xx / width * 2 - 1, yy / height * 2 - 1
    first = np.stack([u, v, u * v, np.ones_like(u)], -1) * mask[..., None]
    if encoding == "smplpix":
        colour = np.stack([0.5 + 0.5 * u, 0.5 + 0.5 * v, 0.5 + 0.25 * u * v, np.ones_like(u)], -1)
        return ((colour * mask[..., None] + (1 - mask[..., None])).astype(np.float32),)
    normal = np.stack([u, -v, np.sqrt(np.clip(1 - u**2 - v**2, 0, 1)), 2.0 + 0.3 * u], -1) * mask[..., None]
    return first.astype(np.float32), normal.astype(np.float32)


def run_graph(graph: GeneratorGraph, planes: tuple[np.ndarray, ...]) -> np.ndarray:
    with torch.inference_mode():
        return graph(*[torch.from_numpy(p)[None] for p in planes])[0].numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / max(np.mean((a - b) ** 2), 1e-12)))


# -- smplpix-unet: compatibility with original SMPLpix checkpoints -------------------------------------


def original_smplpix_state_dict(in_channels: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict laid out like an original SMPLpix checkpoint (5 blocks, 32 start filters)."""
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}

    def conv(name: str, cout: int, cin: int, k: int) -> None:
        state[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=gen) * (2.0 / (cin * k * k)) ** 0.5
        state[f"{name}.bias"] = torch.randn(cout, generator=gen) * 0.05

    def norm(name: str, n: int) -> None:
        state[f"{name}.weight"] = torch.rand(n, generator=gen) + 0.5
        state[f"{name}.bias"] = torch.randn(n, generator=gen) * 0.1
        state[f"{name}.running_mean"] = torch.randn(n, generator=gen) * 0.1
        state[f"{name}.running_var"] = torch.rand(n, generator=gen) + 0.5
        state[f"{name}.num_batches_tracked"] = torch.tensor(1000)

    for i in range(5):
        c, cin = 32 * 2**i, (in_channels if i == 0 else 32 * 2 ** (i - 1))
        conv(f"down_convs.{i}.conv1", c, cin, 3)
        conv(f"down_convs.{i}.conv2", c, c, 3)
        norm(f"down_convs.{i}.norm0", c)
        norm(f"down_convs.{i}.norm1", c)
    for i in range(4):
        cin, c = 512 // 2**i, 256 // 2**i
        conv(f"up_convs.{i}.upconv.conv", c, cin, 3)
        conv(f"up_convs.{i}.conv1", c, 2 * c, 3)
        conv(f"up_convs.{i}.conv2", c, c, 3)
        for k in range(3):
            norm(f"up_convs.{i}.norm{k}", c)
    conv("conv_final", 3, 32, 1)
    return state


def reference_smplpix_forward(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """The SMPLpix U-Net forward written out with functional ops, straight from the state dict."""

    def conv(name: str, t: torch.Tensor) -> torch.Tensor:
        weight = state[f"{name}.weight"]
        return F.conv2d(t, weight, state[f"{name}.bias"], padding=weight.shape[-1] // 2)

    def bn_relu(name: str, t: torch.Tensor) -> torch.Tensor:
        s = {k: state[f"{name}.{k}"] for k in ("running_mean", "running_var", "weight", "bias")}
        return F.relu(F.batch_norm(t, s["running_mean"], s["running_var"], s["weight"], s["bias"], False, 0.0, 1e-5))

    skips = []
    for i in range(5):
        x = bn_relu(f"down_convs.{i}.norm0", conv(f"down_convs.{i}.conv1", x))
        x = bn_relu(f"down_convs.{i}.norm1", conv(f"down_convs.{i}.conv2", x))
        skips.append(x)
        if i < 4:
            x = F.max_pool2d(x, 2, ceil_mode=True)
    for i in range(4):
        up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        up = bn_relu(f"up_convs.{i}.norm0", conv(f"up_convs.{i}.upconv.conv", up))
        x = torch.cat([up, skips[3 - i]], dim=1)
        x = bn_relu(f"up_convs.{i}.norm1", conv(f"up_convs.{i}.conv1", x))
        x = bn_relu(f"up_convs.{i}.norm2", conv(f"up_convs.{i}.conv2", x))
    return torch.sigmoid(conv("conv_final", x))


def test_smplpix_unet_loads_an_original_state_dict_and_matches_the_reference_forward():
    state = original_smplpix_state_dict()
    net = SmplpixUNet(in_channels=3).eval()
    assert set(net.state_dict()) == set(state)
    net.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 48, 32, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(net(x), reference_smplpix_forward(state, x), atol=1e-5, rtol=1e-4)
    assert net.size_multiple == 16
    assert sum(p.numel() for p in net.parameters()) == pytest.approx(8.64e6, rel=0.01)


# -- pixnet, wrapper, utilities ---------------------------------------------------------------------------


def test_pixnet_output_is_an_image_of_the_input_size():
    net = PixNet(**TINY_PIXNET).eval()
    with torch.inference_mode():
        out = net(torch.rand(2, 8, 40, 24))
    assert out.shape == (2, 3, 40, 24)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert net.size_multiple == 8


def test_default_pixnet_stays_within_its_compute_budget():
    gflops = count_flops(PixNet(in_channels=8), 256, 256) / 1e9
    assert 2.0 < gflops <= 3.0


def test_count_flops_counts_convolution_multiply_adds():
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 4, stride=2, padding=1))
    net.in_channels = 3
    expected = 2 * (16 * 16 * 8 * 3 * 9 + 8 * 8 * 4 * 8 * 16)
    assert count_flops(net, 16, 16) == expected


@pytest.mark.parametrize("arch", ["pixnet", "smplpix-unet"])
def test_fold_batchnorm_keeps_the_output(arch):
    graph = make_graph(arch, "neural" if arch == "pixnet" else "smplpix")
    x = torch.rand(1, graph.net.in_channels, 32, 32)
    with torch.inference_mode():
        before = graph.net(x)
        after = fold_batchnorm(graph.net)(x)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in graph.net.modules())
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-4)


def test_build_network_rejects_unknown_names():
    with pytest.raises(InputError, match="unknown generator architecture 'resnet'"):
        build_network("resnet")
    with pytest.raises(InputError, match=r"takes no argument\(s\) \['width'\]"):
        build_network("pixnet", width=3)


def test_graph_reads_only_the_channels_its_manifest_selects():
    graph = make_graph("smplpix-unet", "smplpix")
    (plane,) = gbuffer("smplpix", 32, 32)
    reference = run_graph(graph, (plane,))
    assert reference.shape == (32, 32, 3)
    other_mask = plane.copy()
    other_mask[..., 3] = 0.0  # the smplpix encoding's mask channel is not an input
    np.testing.assert_array_equal(run_graph(graph, (other_mask,)), reference)
    other_colour = plane.copy()
    other_colour[..., 0] = 0.0
    assert np.abs(run_graph(graph, (other_colour,)) - reference).max() > 1e-4


def test_graph_rejects_a_network_with_another_channel_count():
    graph = make_graph()
    with pytest.raises(InputError, match="reads 3 channels but the manifest's inputs select 8"):
        GeneratorGraph(PixNet(in_channels=3, depth=3), graph.manifest)


# -- files --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["pixnet", "smplpix-unet"])
def test_onnx_export_keeps_state_dict_names_manifest_and_dynamic_size(tmp_path, arch):
    encoding = "neural" if arch == "pixnet" else "smplpix"
    graph = make_graph(arch, encoding)
    path = export_onnx(graph, graph.manifest, tmp_path / "model.onnx")
    model = onnx.load(path)
    names = set(onnx_state_dict(model))
    assert {k for k in graph.net.state_dict() if not k.endswith("num_batches_tracked")} <= names
    assert read_manifest(path) == graph.manifest
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for height, width in [(32, 32), (64, 48)]:
        planes = gbuffer(encoding, height, width)
        feed = {name: p[None] for name, p in zip(graph.manifest.input_names, planes, strict=True)}
        out = session.run(None, feed)[0][0]
        np.testing.assert_allclose(out, run_graph(graph, planes), atol=1e-4)
    assert sorted(os.listdir(tmp_path)) == ["model.onnx"]


def test_fp16_export_keeps_float32_io(tmp_path):
    graph = make_graph()
    path = export_onnx(graph, graph.manifest, tmp_path / "model16.onnx", fp16=True)
    assert read_manifest(path).precision == "fp16"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert all(i.type == "tensor(float)" for i in session.get_inputs())
    planes = gbuffer("neural", 32, 32)
    out = session.run(None, dict(zip(graph.manifest.input_names, (p[None] for p in planes), strict=True)))[0][0]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, run_graph(graph, planes), atol=1e-2)
    torch.testing.assert_close(run_graph(load_graph(path), planes), run_graph(graph, planes), atol=1e-2, rtol=0)


def test_int8_quantization_is_close_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    graph = make_graph(size=64)
    fp32 = export_onnx(graph, graph.manifest, tmp_path / "model.onnx")
    calibration = [gbuffer("neural", 64, 64, seed=s) for s in range(4)]
    int8 = quantize_int8(fp32, tmp_path / "model-int8.onnx", calibration)
    assert read_manifest(int8).precision == "int8"
    assert os.listdir(work) == []
    assert sorted(os.listdir(tmp_path)) == ["cwd", "model-int8.onnx", "model.onnx"]
    session = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    planes = gbuffer("neural", 64, 64, seed=9)
    out = session.run(None, dict(zip(graph.manifest.input_names, (p[None] for p in planes), strict=True)))[0][0]
    assert psnr(out, run_graph(graph, planes)) > 30.0
    with pytest.raises(ModelFileError, match="needs an fp32 model, this one is int8"):
        quantize_int8(int8, tmp_path / "again.onnx", calibration)
    with pytest.raises(InputError, match="at least one calibration batch"):
        quantize_int8(fp32, tmp_path / "none.onnx", [])


def test_safetensors_round_trip(tmp_path):
    graph = make_graph()
    path = save_torch(graph, graph.manifest, tmp_path / "model.safetensors")
    loaded = load_graph(path)
    assert loaded.manifest == graph.manifest
    planes = gbuffer("neural", 32, 32)
    torch.testing.assert_close(run_graph(loaded, planes), run_graph(graph, planes), atol=0, rtol=0)
    with pytest.raises(InputError, match="name the target \\*.safetensors"):
        save_torch(graph, graph.manifest, tmp_path / "model.pt")


def test_state_dict_pickle_with_sidecar_loads(tmp_path):
    graph = make_graph("smplpix-unet", "smplpix")
    path = tmp_path / "smplpix.pt"
    torch.save({f"module.{k}": v for k, v in graph.net.state_dict().items()}, path)  # DataParallel-style keys
    write_sidecar(graph.manifest, path)
    planes = gbuffer("smplpix", 32, 32)
    torch.testing.assert_close(run_graph(load_graph(path), planes), run_graph(graph, planes), atol=0, rtol=0)


def test_weights_that_do_not_fit_the_manifest_are_reported(tmp_path):
    graph = make_graph()
    wrong = graph.manifest.replace(architecture=Architecture("pixnet", {**TINY_PIXNET, "base_filters": 4}))
    path = save_torch(graph, wrong, tmp_path / "model.safetensors")
    with pytest.raises(ModelFileError, match="has shape .* the architecture expects"):
        load_graph(path)
    assert build_from_manifest(wrong).in_channels == 8


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "model.onnx"
    target.write_bytes(b"previous model")
    with pytest.raises(RuntimeError, match="disk full"), atomic_target(target) as tmp:
        tmp.write_bytes(b"half a mod")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"previous model"
    assert os.listdir(tmp_path) == ["model.onnx"]
