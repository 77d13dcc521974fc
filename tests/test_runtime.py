"""Generator runtimes: every backend against the PyTorch fp32 reference, file validation, auto selection."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from smplpix_rt.errors import BackendUnavailableError, InputError, ModelFileError
from smplpix_rt.generator.export import export_onnx, quantize_int8, save_torch
from smplpix_rt.generator.manifest import Architecture, Manifest, default_inputs, embed_in_onnx, write_sidecar
from smplpix_rt.generator.networks import GeneratorGraph, build_network
from smplpix_rt.runtime import OrtRuntime, TorchRuntime, available_backends, load_runtime

SIZE = 32


def _randomize_batchnorm(net: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(3)
    for module in net.modules():
        if isinstance(module, nn.BatchNorm2d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            module.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            module.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
    return net


def _graph(arch: str, encoding: str, params: dict) -> GeneratorGraph:
    torch.manual_seed(0)
    net = _randomize_batchnorm(build_network(arch, **params).eval())
    manifest = Manifest(
        body_model="anny",
        body_model_version="0.6.2",
        encoding=encoding,
        inputs=default_inputs(encoding),
        architecture=Architecture(arch, params),
        resolution=(SIZE, SIZE),
        size_multiple=net.size_multiple,
    )
    return GeneratorGraph(net, manifest).eval()


def planes_for(encoding: str, height: int = SIZE, width: int = SIZE, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Smooth synthetic G-buffer planes (a blob with coordinates/normals/colour inside a mask)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / width * 2 - 1, yy / height * 2 - 1
    mask = ((u - rng.uniform(-0.1, 0.1)) ** 2 / 0.3 + v**2 / 0.7 < 1).astype(np.float32)[..., None]
    if encoding == "smplpix":
        rgb = np.stack([0.5 + 0.5 * u, 0.5 + 0.5 * v, 0.5 + 0.25 * u * v, np.ones_like(u)], -1)
        return ((rgb * mask + (1 - mask)).astype(np.float32),)
    first = np.stack([u, v, u * v, np.ones_like(u)], -1) * mask
    second = np.stack([u, -v, np.sqrt(np.clip(1 - u**2 - v**2, 0, 1)), 2 + 0.3 * u], -1) * mask
    return first.astype(np.float32), second.astype(np.float32)


def reference(graph: GeneratorGraph, planes: tuple[np.ndarray, ...]) -> torch.Tensor:
    with torch.inference_mode():
        return graph(*[torch.from_numpy(p)[None] for p in planes])[0]


def assert_matches_reference(runtime, graph: GeneratorGraph, planes: tuple[np.ndarray, ...], atol: float) -> None:
    out = runtime.infer(planes)
    assert out.shape == (*planes[0].shape[:2], 3) and out.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(out), reference(graph, planes), atol=atol, rtol=0)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Tiny pixnet (neural) and smplpix-unet (smplpix) generators in every file format."""
    folder = tmp_path_factory.mktemp("models")
    pix = _graph("pixnet", "neural", {"in_channels": 8, "base_filters": 8, "depth": 3, "max_filters": 16})
    unet = _graph("smplpix-unet", "smplpix", {"in_channels": 3, "start_filters": 4})
    files = {
        "graph": pix,
        "unet": unet,
        "onnx": export_onnx(pix, pix.manifest, folder / "pix.onnx"),
        "safetensors": save_torch(pix, pix.manifest, folder / "pix.safetensors"),
        "unet_onnx": export_onnx(unet, unet.manifest, folder / "unet.onnx"),
    }
    torch.save(unet.net.state_dict(), folder / "unet.pt")
    write_sidecar(unet.manifest, folder / "unet.pt")
    files["unet_pt"] = folder / "unet.pt"
    calibration = [planes_for("neural", seed=s) for s in range(4)]
    files["int8"] = quantize_int8(files["onnx"], folder / "pix-int8.onnx", calibration)
    return files


# -- numerics against the PyTorch fp32 reference -------------------------------------------------------


def test_onnxruntime_fp32_matches_reference(models):
    planes = planes_for("neural", seed=5)
    with OrtRuntime(models["onnx"]) as runtime:
        out = runtime.infer(planes)
        info = runtime.describe()
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.float32
    torch.testing.assert_close(torch.from_numpy(out), reference(models["graph"], planes), atol=1e-4, rtol=0)
    assert (info.backend, info.device, info.precision) == ("onnxruntime", "cpu", "fp32")


@pytest.mark.parametrize("source", ["onnx", "safetensors"])
def test_torch_fp32_matches_reference(models, source):
    planes = planes_for("neural", seed=6)
    runtime = TorchRuntime(models[source], precision="fp32")
    torch.testing.assert_close(
        torch.from_numpy(runtime.infer(planes)), reference(models["graph"], planes), atol=1e-5, rtol=0
    )


def test_torch_runs_with_its_thread_count_on_any_thread(models):
    """A thread whose PyTorch thread count was set to 1 by another thread still infers with the runtime's."""
    import threading

    previous = torch.get_num_threads()
    runtime = TorchRuntime(models["safetensors"], precision="fp32", num_threads=2)
    seen: list[int] = []

    def work() -> None:
        runtime.infer(planes_for("neural", seed=9))
        seen.append(torch.get_num_threads())

    torch.set_num_threads(1)  # a fresh thread now starts with one thread
    try:
        worker = threading.Thread(target=work)
        worker.start()
        worker.join()
    finally:
        torch.set_num_threads(previous)
    assert seen == [2]


def test_torch_bf16_matches_reference(models):
    planes = planes_for("neural", seed=7)
    runtime = TorchRuntime(models["safetensors"], precision="bf16")
    assert runtime.describe().precision == "bf16"
    torch.testing.assert_close(
        torch.from_numpy(runtime.infer(planes)), reference(models["graph"], planes), atol=3e-2, rtol=0
    )


def test_onnxruntime_int8_is_close_to_reference(models):
    planes = planes_for("neural", seed=8)
    runtime = OrtRuntime(models["int8"])
    assert runtime.describe().precision == "int8"
    out = runtime.infer(planes)
    expected = reference(models["graph"], planes).numpy()
    mse = float(np.mean((out - expected) ** 2))
    assert 10 * np.log10(1 / max(mse, 1e-12)) > 30.0  # PSNR in dB


def test_torch_runs_an_int8_file_through_its_dequantized_weights(models):
    planes = planes_for("neural", seed=8)
    expected = reference(models["graph"], planes).numpy()

    def psnr(image: np.ndarray) -> float:
        return float(10 * np.log10(1 / max(float(np.mean((image - expected) ** 2)), 1e-12)))

    runtime = TorchRuntime(models["int8"], precision="fp32")
    assert "dequantized from the int8 file" in runtime.describe().detail
    dequantized, int8 = psnr(runtime.infer(planes)), psnr(OrtRuntime(models["int8"]).infer(planes))
    # Float activations: closer to the fp32 network than ONNX Runtime's int8 kernels.
    assert dequantized > 35.0 and dequantized > int8, (dequantized, int8)


def test_int8_export_keeps_resize_scales_float(models):
    # Quantized scales (2.0039 for 2) make ONNX Runtime < 1.32 refuse the linear Resize.
    graph = onnx.load(str(models["int8"])).graph
    producers = {out: node.op_type for node in graph.node for out in node.output}
    resizes = [node for node in graph.node if node.op_type == "Resize"]
    assert resizes
    for node in resizes:
        assert producers.get(node.input[0]) == "DequantizeLinear"  # the feature map itself is int8
        assert all(producers.get(name) != "DequantizeLinear" for name in node.input[1:]), node.name


@pytest.mark.parametrize("source", ["unet_onnx", "unet_pt"])
def test_smplpix_unet_runs_on_every_cpu_backend(models, source):
    planes = planes_for("smplpix", 48, 32)
    expected = reference(models["unet"], planes)
    backends = ["torch", "onnxruntime"] if source == "unet_onnx" else ["torch"]
    for backend in backends:
        runtime = load_runtime(models[source], backend=backend, precision="fp32" if backend == "torch" else "auto")
        torch.testing.assert_close(torch.from_numpy(runtime.infer(planes)), expected, atol=1e-4, rtol=0)


# -- auto selection and discovery --------------------------------------------------------------------------


def test_auto_picks_a_measured_backend_and_says_so(models):
    runtime = load_runtime(models["onnx"], device="cpu")  # both CPU backends read it: they are timed
    info = runtime.describe()
    assert info.backend in ("torch", "onnxruntime")
    assert "auto: fastest at 32x32" in info.detail
    planes = planes_for("neural", seed=1)
    tolerance = 3e-2 if info.precision == "bf16" else 1e-4
    torch.testing.assert_close(
        torch.from_numpy(runtime.infer(planes)), reference(models["graph"], planes), atol=tolerance, rtol=0
    )


def test_auto_on_files_only_one_backend_reads(models):
    assert load_runtime(models["safetensors"]).describe().backend == "torch"
    info = load_runtime(models["int8"], device="cpu").describe()  # on a GPU, PyTorch CUDA would read it too
    assert (info.backend, info.precision) == ("onnxruntime", "int8")
    assert "only backend" in info.detail


def test_auto_on_a_gpu_falls_back_to_the_cpu_for_a_file_no_cuda_backend_reads(models, monkeypatch):
    import smplpix_rt.runtime.loader as loader

    # A GPU with onnxruntime-gpu but CPU-only PyTorch: nothing on CUDA reads a safetensors file.
    monkeypatch.setattr(loader, "_torch_cuda", lambda: False)
    monkeypatch.setattr(loader, "_ort_cuda", lambda: True)
    info = load_runtime(models["safetensors"]).describe()
    assert (info.backend, info.device) == ("torch", "cpu")


def test_auto_falls_back_to_the_cpu_when_no_cuda_backend_loads_the_file(models, monkeypatch):
    import smplpix_rt.runtime.loader as loader

    # A GPU whose PyTorch backend fails to load the file (out of memory, say): ONNX Runtime's CPU
    # int8 kernels run it.
    cpu_factory = loader._torch_factory

    def failing_on_cuda(path, precision, device):
        if device.startswith("cuda"):

            def fail():
                raise BackendUnavailableError("CUDA out of memory")

            return fail
        return cpu_factory(path, precision, device)

    monkeypatch.setattr(loader, "_torch_cuda", lambda: True)
    monkeypatch.setattr(loader, "_ort_cuda", lambda: False)
    monkeypatch.setattr(loader, "_torch_factory", failing_on_cuda)
    info = load_runtime(models["int8"]).describe()
    assert (info.backend, info.device, info.precision) == ("onnxruntime", "cpu", "int8")
    assert "not on the GPU: CUDA out of memory" in info.detail


def test_every_backend_checks_the_onnx_graph_against_the_manifest(models, tmp_path):
    model = onnx.load(str(models["onnx"]))
    model.graph.input[0].type.tensor_type.shape.dim[3].dim_value = 3
    bad = tmp_path / "three.onnx"
    onnx.save(model, str(bad))
    for load in (TorchRuntime, OrtRuntime):
        with pytest.raises(ModelFileError, match="one RGBA G-buffer plane"):
            load(bad)


def test_backend_and_file_type_must_fit(models):
    with pytest.raises(InputError, match="onnxruntime backend runs .onnx files"):
        load_runtime(models["safetensors"], backend="onnxruntime")
    with pytest.raises(InputError, match="tensorrt backend runs .engine files"):
        load_runtime(models["safetensors"], backend="tensorrt")
    with pytest.raises(InputError, match="is a fp32 model"):
        load_runtime(models["onnx"], backend="onnxruntime", precision="bf16")
    with pytest.raises(InputError, match="unknown backend 'tflite'"):
        load_runtime(models["onnx"], backend="tflite")
    with pytest.raises(InputError, match="fp16 is not supported on the CPU"):
        TorchRuntime(models["onnx"], precision="fp16")


def test_available_backends_reports_each_backend():
    entries = {entry["name"]: entry for entry in available_backends()}
    assert set(entries) == {"torch", "onnxruntime", "tensorrt"}
    assert entries["torch"]["available"] and entries["onnxruntime"]["available"]
    assert all(isinstance(e["reason"], str) and e["reason"] for e in entries.values())


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA provider present")
def test_onnxruntime_cuda_without_provider_is_a_clear_error(models):
    with pytest.raises(BackendUnavailableError, match="no CUDA provider.*onnxruntime-gpu"):
        OrtRuntime(models["onnx"], device="cuda")


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA present")
def test_torch_cuda_without_gpu_is_a_clear_error(models):
    with pytest.raises(BackendUnavailableError, match="PyTorch sees no CUDA GPU"):
        TorchRuntime(models["onnx"], device="cuda")


@pytest.mark.gpu
@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_cuda_backends_match_reference(models, backend):
    if backend == "onnxruntime" and "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime-gpu is not installed")
    planes = planes_for("neural", seed=2)
    runtime = load_runtime(
        models["onnx"], backend=backend, device="cuda", precision="fp32" if backend == "torch" else "auto"
    )
    assert runtime.describe().device == "cuda:0"
    torch.testing.assert_close(
        torch.from_numpy(runtime.infer(planes)), reference(models["graph"], planes), atol=1e-3, rtol=0
    )


# -- invalid inputs and files ---------------------------------------------------------------------------


def test_infer_validates_the_gbuffer(models):
    runtime = OrtRuntime(models["onnx"])
    good = planes_for("neural")
    with pytest.raises(InputError, match="takes 2 G-buffer plane"):
        runtime.infer(good[:1])
    with pytest.raises(InputError, match="gbuffer1 must be a float32 numpy array, got float64"):
        runtime.infer((good[0], good[1].astype(np.float64)))
    with pytest.raises(InputError, match=r"must have shape \(H, W, 4\)"):
        runtime.infer((good[0][..., :3], good[1][..., :3]))
    with pytest.raises(InputError, match="must be a non-zero multiple of 8"):
        runtime.infer(planes_for("neural", 36, 32))


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.onnx", None, "missing.onnx: file not found"),
        ("model.h5", b"\x89HDF", "unknown generator file type '.h5'"),
        ("empty.onnx", b"", "empty.onnx is not a valid ONNX model: the file is empty"),
        ("noise.onnx", bytes(range(256)) * 40, "noise.onnx is not a valid ONNX model"),
        ("noise.safetensors", bytes(range(256)) * 40, "noise.safetensors is not a valid safetensors file"),
        ("noise.engine", bytes(range(256)) * 40, "noise.engine.json is missing"),
    ],
)
def test_bad_files_are_reported_before_any_backend_loads_them(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError) as info:
        load_runtime(path)
    assert message in str(info.value)


def test_truncated_files_are_reported(models, tmp_path):
    for key, kind in [("onnx", "ONNX model"), ("safetensors", "safetensors file")]:
        data = models[key].read_bytes()
        cut = tmp_path / f"cut{models[key].suffix}"
        cut.write_bytes(data[: len(data) // 2])
        with pytest.raises(ModelFileError, match=f"cut{models[key].suffix} is not a valid {kind}"):
            load_runtime(cut)
    noise = tmp_path / "noise.pt"
    noise.write_bytes(b"\x80\x02not a pickle at all")
    write_sidecar(models["unet"].manifest, noise)
    with pytest.raises(ModelFileError, match="noise.pt is not a valid PyTorch state dict"):
        load_runtime(noise)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_onnx_whose_planes_are_not_rgba_is_rejected(tmp_path, models):
    class ThreeChannel(nn.Module):
        def forward(self, gbuffer0: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(gbuffer0)

    path = tmp_path / "rgb.onnx"
    torch.onnx.export(
        ThreeChannel(),
        (torch.zeros(1, 16, 16, 3),),
        str(path),
        dynamo=False,
        input_names=["gbuffer0"],
        output_names=["rgb"],
        dynamic_axes={"gbuffer0": {1: "h", 2: "w"}, "rgb": {1: "h", 2: "w"}},
    )
    model = onnx.load(path)
    embed_in_onnx(model, models["unet"].manifest)
    onnx.save(model, path)
    with pytest.raises(
        ModelFileError, match=r"input gbuffer0 has shape .*3\]; a generator input must be \(1, H, W, 4\)"
    ):
        OrtRuntime(path)


def test_onnx_whose_network_disagrees_with_its_manifest_is_rejected(tmp_path, models):
    model = onnx.load(models["unet_onnx"])  # reads gbuffer0 only
    neural = models["graph"].manifest  # expects gbuffer0 and gbuffer1
    embed_in_onnx(model, neural)
    path = tmp_path / "mismatch.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelFileError, match=r"model inputs \['gbuffer0'\] differ from its manifest's"):
        load_runtime(path, backend="onnxruntime")
    with pytest.raises(ModelFileError, match="mismatch.onnx"):
        load_runtime(path, backend="torch")


def test_generator_for_another_body_model_is_refused(models, tmp_path):
    from smplpix_rt.generator.manifest import check_compatible

    graph = models["graph"]
    path = save_torch(graph, graph.manifest.replace(body_model="smplx"), tmp_path / "smplx.safetensors")
    runtime = load_runtime(path)
    with pytest.raises(ModelFileError, match="trained for body model 'smplx'"):
        check_compatible(runtime.manifest, "anny", "neural")


def test_importing_the_runtime_loads_no_backend_library():
    code = textwrap.dedent(
        """
        import sys
        import smplpix_rt.generator, smplpix_rt.runtime
        from smplpix_rt.runtime import load_runtime, TensorRTRuntime, OrtRuntime
        banned = ("onnxruntime", "tensorrt", "cuda", "glfw", "imgui_bundle")
        print(sorted(m for m in sys.modules if m.split(".")[0] in banned))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_benchmark_reports_each_cpu_configuration():
    from smplpix_rt.runtime.bench import bench_generators, format_table
    from smplpix_rt.runtime.host import cpu_has_fast_bf16

    results = bench_generators(32, archs=("pixnet",), runs=2, warmup=1, int8=True)
    configs = {(r["backend"], r["precision"]) for r in results}
    expected = {("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8")}
    assert expected | ({("torch", "bf16")} if cpu_has_fast_bf16() else set()) <= configs
    assert all(r["ms_median"] > 0 and r["fps"] > 0 and r["gflops"] > 0 for r in results)
    assert len(format_table(results).splitlines()) == len(results) + 1


def test_int8_weights_map_kept_batchnorms_and_refuse_unknown_layers(models):
    from smplpix_rt.generator.int8_weights import load_int8_weights, read_int8_weights
    from smplpix_rt.generator.networks import build_from_manifest

    # ONNX Runtime's quantizer does not always fold BatchNorms into the convolutions; a graph that
    # keeps them (like the float export) must rebuild the same network.
    graph = onnx.load(str(models["onnx"]))
    assert any(node.op_type == "BatchNormalization" for node in graph.graph.node)
    net = build_from_manifest(models["graph"].manifest).eval()
    load_int8_weights(net, read_int8_weights(graph, "pix"), "pix")
    for name, value in models["graph"].net.state_dict().items():
        torch.testing.assert_close(net.state_dict()[name], value, atol=0, rtol=0, msg=name)

    int8 = onnx.load(str(models["int8"]))
    next(node for node in int8.graph.node if node.op_type == "Conv").name = "conv_17"
    with pytest.raises(ModelFileError, match="cannot tell which layer the node 'conv_17' belongs to"):
        read_int8_weights(int8, "pix-int8.onnx")
