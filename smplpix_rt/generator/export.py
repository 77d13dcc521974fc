"""Writing and reading generator files: ONNX (fp32 / fp16 / int8) and safetensors.

* :func:`export_onnx` traces a :class:`GeneratorGraph` into ONNX (opset 17, dynamic H/W) with its
  manifest in the metadata. Initializer names equal the network's state-dict names, so the torch
  backend can rebuild the network from the ONNX file alone (:func:`load_graph`).
* :func:`quantize_int8` turns an fp32 ONNX file into a static QDQ int8 one (u8 activations, s8
  per-channel weights), calibrated on real G-buffers; ONNX Runtime runs it.
* :func:`save_torch` writes the network weights as safetensors (no pickle) with the manifest in the
  header; :func:`load_graph` reads ``.safetensors``, ``.pt`` state dicts (+ JSON sidecar) and
  fp32/fp16 ``.onnx`` files back into a :class:`GeneratorGraph`.

Every write is atomic: a temporary file in the target folder renamed over the target at the end.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.fileio import atomic_target, write_atomic
from smplpix_rt.generator.manifest import (
    Manifest,
    check_io_signature,
    embed_in_onnx,
    manifest_from_metadata,
    manifest_from_onnx,
    onnx_io_shapes,
    read_sidecar,
    safetensors_metadata,
)
from smplpix_rt.generator.networks import GeneratorGraph, build_from_manifest

_NET_PREFIX = "net."
_QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"}


# -- ONNX export -------------------------------------------------------------------------------------


def export_onnx(
    graph: GeneratorGraph, manifest: Manifest, path: str | Path, opset: int = 17, *, fp16: bool = False
) -> Path:
    """Export a generator graph to ONNX with the manifest embedded.

    Args:
        graph: the network wrapped with the I/O contract.
        manifest: the manifest to embed (its inputs must match ``graph.manifest``'s).
        path: target ``.onnx`` file; written atomically.
        opset: ONNX opset (17 is what the runtimes are tested with).
        fp16: export the network in float16 (weights and compute), keeping float32 inputs and
            output; the manifest records ``precision="fp16"``. For TensorRT strongly typed builds.

    Returns:
        The written path.

    Raises:
        InputError: the manifest does not describe this graph.
    """
    if manifest.inputs != graph.manifest.inputs or manifest.output != graph.manifest.output:
        raise InputError("export_onnx: the manifest's inputs/output differ from the ones the graph was built with")
    source = graph
    if fp16:
        source = GeneratorGraph(copy.deepcopy(graph.net).half(), graph.manifest, compute_dtype=torch.float16)
        manifest = manifest.replace(precision="fp16")
    model = _trace_to_onnx(source, manifest, opset)
    _check_initializer_names(model, graph.net)
    embed_in_onnx(model, manifest)
    model.producer_name = "smplpix-rt"
    import onnx

    onnx.checker.check_model(model)
    write_atomic(path, model.SerializeToString())
    return Path(path)


def _trace_to_onnx(graph: GeneratorGraph, manifest: Manifest, opset: int) -> Any:
    import onnx

    side = 2 * manifest.size_multiple
    dummies = tuple(torch.zeros(1, side, side, 4, dtype=torch.float32) for _ in manifest.inputs)
    axes = {name: {1: "height", 2: "width"} for name in (*manifest.input_names, manifest.output)}
    buffer = io.BytesIO()
    modes = {module: module.training for module in graph.modules()}
    graph.eval()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                graph,
                dummies,
                buffer,
                dynamo=False,
                opset_version=opset,
                input_names=list(manifest.input_names),
                output_names=[manifest.output],
                dynamic_axes=axes,
                do_constant_folding=False,  # keeps weights as named initializers (state-dict names)
                training=torch.onnx.TrainingMode.EVAL,
            )
    finally:
        for module, mode in modes.items():
            module.training = mode
    model = onnx.load_from_string(buffer.getvalue())
    _strip_name_prefix(model, _NET_PREFIX)
    return model


def _strip_name_prefix(model: Any, prefix: str) -> None:
    """Rename ``net.<key>`` tensors to ``<key>`` so ONNX names equal the network's state-dict names."""
    g = model.graph
    names = {t.name for t in g.initializer} | {o for n in g.node for o in n.output}
    rename = {n: n[len(prefix) :] for n in names if n.startswith(prefix)}
    for tensor in g.initializer:
        tensor.name = rename.get(tensor.name, tensor.name)
    for node in g.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]


def onnx_state_dict(model: Any) -> dict[str, np.ndarray]:
    """Named weights of an ONNX model: its initializers plus ``Identity`` aliases of them.

    The exporter stores identical tensors once (e.g. a fresh BatchNorm's weight and running_var)
    and reaches the duplicate through an ``Identity`` node; both names are returned.
    """
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in weights:
            weights[node.output[0]] = weights[node.input[0]]
    return weights


def _check_initializer_names(model: Any, net: torch.nn.Module) -> None:
    weights = onnx_state_dict(model)
    missing = [k for k in net.state_dict() if not k.endswith("num_batches_tracked") and k not in weights]
    if missing:
        raise RuntimeError(f"ONNX export lost the state-dict names of {missing[:5]} (exporter changed behaviour?)")


def is_quantized(model: Any) -> bool:
    """True if an ONNX model contains quantized (int8) operators."""
    return any(node.op_type in _QUANT_OPS for node in model.graph.node)


# -- int8 quantization -----------------------------------------------------------------------------


class _CalibrationReader:
    """An ``onnxruntime.quantization.CalibrationDataReader`` over G-buffer plane tuples."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]) -> None:
        self._feeds = feeds
        self._iter: Iterator[dict[str, np.ndarray]] = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = iter(self._feeds)


def _calibration_feeds(manifest: Manifest, batches: Iterable[tuple[np.ndarray, ...]]) -> list[dict[str, np.ndarray]]:
    feeds = []
    for index, planes in enumerate(batches):
        if len(planes) != len(manifest.inputs):
            raise InputError(
                f"calibration batch {index} has {len(planes)} planes; the model takes {len(manifest.inputs)}"
            )
        feed = {}
        for name, plane in zip(manifest.input_names, planes, strict=True):
            array = np.asarray(plane, dtype=np.float32)
            array = array[None] if array.ndim == 3 else array
            if array.ndim != 4 or array.shape[0] != 1 or array.shape[-1] != 4:
                raise InputError(f"calibration batch {index}: {name} has shape {array.shape}, expected (H, W, 4)")
            feed[name] = np.ascontiguousarray(array)
        feeds.append(feed)
    if not feeds:
        raise InputError("quantize_int8 needs at least one calibration batch (a few real G-buffers)")
    return feeds


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def quantize_int8(
    onnx_in: str | Path, onnx_out: str | Path, calibration_batches: Iterable[tuple[np.ndarray, ...]]
) -> Path:
    """Statically quantize an fp32 generator to int8 QDQ (u8 activations, s8 per-channel weights).

    Args:
        onnx_in: fp32 ONNX file written by :func:`export_onnx`.
        onnx_out: target file; written atomically, manifest copied with ``precision="int8"``.
        calibration_batches: G-buffers to calibrate activation ranges on: each a tuple of
            (H, W, 4) float32 planes like :meth:`Runtime.infer` takes. Use real renders.

    Raises:
        ModelFileError: ``onnx_in`` is not an fp32 smplpix ONNX model.
        InputError: no or malformed calibration batches.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quant_pre_process, quantize_static

    onnx_in = Path(onnx_in).resolve()
    model = _load_onnx(onnx_in)
    manifest = manifest_from_onnx(model, str(onnx_in))
    if manifest.precision != "fp32" or is_quantized(model):
        raise ModelFileError(f"{onnx_in}: quantize_int8 needs an fp32 model, this one is {manifest.precision}")
    feeds = _calibration_feeds(manifest, calibration_batches)
    # The quantizer writes helper files (*.data, augmented models) into the working directory.
    with tempfile.TemporaryDirectory(prefix="smplpix-quant-") as tmp, _working_directory(Path(tmp)):
        prepared, quantized = Path(tmp) / "prepared.onnx", Path(tmp) / "quantized.onnx"
        quant_pre_process(str(onnx_in), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(quantized),
            _CalibrationReader(feeds),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=_resize_parameter_producers(onnx.load(str(prepared))),
        )
        result = onnx.load(str(quantized))
    embed_in_onnx(result, manifest.replace(precision="int8"))
    result.producer_name = "smplpix-rt"
    write_atomic(onnx_out, result.SerializeToString())
    return Path(onnx_out)


def _resize_parameter_producers(model: Any) -> list[str]:
    """Nodes computing a Resize's roi / scales / sizes: these must stay float.

    Quantized scales come back as e.g. 2.0039 instead of 2: ONNX Runtime before 1.32 then refuses
    the linear Resize ("'Linear' mode only supports ..."), and later versions resample off-grid.
    """
    producers = {output: node.name for node in model.graph.node for output in node.output}
    return sorted(
        {
            producers[name]
            for node in model.graph.node
            if node.op_type == "Resize"
            for name in node.input[1:]
            if name in producers
        }
    )


# -- safetensors / state dicts ----------------------------------------------------------------------


def save_torch(graph: GeneratorGraph, manifest: Manifest, path: str | Path) -> Path:
    """Write the network weights as safetensors with the manifest in the header metadata.

    Raises:
        InputError: ``path`` does not end in ``.safetensors``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    if path.suffix.lower() != ".safetensors":
        raise InputError(f"save_torch writes safetensors files; name the target *.safetensors, not {path.name}")
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in graph.net.state_dict().items()}
    with atomic_target(path) as tmp:
        save_file(state, str(tmp), metadata=safetensors_metadata(manifest))
    return path


def load_graph(path: str | Path, dequantize_int8: bool = False) -> GeneratorGraph:
    """Rebuild a float32 :class:`GeneratorGraph` (eval mode) from a generator file.

    Supports ``.safetensors`` (manifest in the header), ``.pt`` / ``.pth`` (a state dict loaded
    with ``weights_only=True``; manifest in the ``<file>.json`` sidecar) and fp32/fp16 ``.onnx``.

    Args:
        path: the generator file.
        dequantize_int8: also read int8 QDQ ``.onnx`` files, as their dequantized weights in the
            BatchNorm-folded network (:mod:`smplpix_rt.generator.int8_weights`); for inference only.

    Raises:
        ModelFileError: unreadable file, missing manifest, weights that do not fit the architecture,
            or an int8 ONNX model without ``dequantize_int8``.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    suffix = path.suffix.lower()
    int8 = None
    if suffix == ".safetensors":
        manifest, state = _read_safetensors(path)
    elif suffix in (".pt", ".pth"):
        manifest, state = read_sidecar(path), _read_state_dict_pickle(path)
    elif suffix == ".onnx":
        manifest, state, int8 = _read_onnx_weights(path, dequantize_int8)
    else:
        raise ModelFileError(f"{path}: the torch backend reads .safetensors, .pt or .onnx files, not {suffix or 'no'}")
    try:
        net = build_from_manifest(manifest)
    except InputError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    if int8 is not None:
        from smplpix_rt.generator.int8_weights import load_int8_weights

        load_int8_weights(net.eval(), int8, str(path))
    else:
        _load_weights(net, state, path)
    return GeneratorGraph(net.eval(), manifest).eval()


def _read_safetensors(path: Path) -> tuple[Manifest, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            state = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:
        raise ModelFileError(f"{path} is not a valid safetensors file: {exc}") from None
    return manifest_from_metadata(metadata, str(path)), state


def _read_state_dict_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable PyTorch state dict: {exc}") from None
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data, Mapping) and isinstance(data.get(key), Mapping):
            data = data[key]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ModelFileError(f"{path} does not hold a state dict (a mapping of names to tensors)")
    keys = list(data)
    if keys and all(k.startswith("module.") for k in keys):  # saved from DataParallel
        data = {k[len("module.") :]: v for k, v in data.items()}
    return dict(data)


def _load_onnx(path: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:
        raise ModelFileError(f"{path} is not a valid ONNX model: {exc}") from None


def _read_onnx_weights(path: Path, dequantize_int8: bool) -> tuple[Manifest, dict[str, torch.Tensor], Any]:
    """(manifest, state dict, None) of a float file; (manifest, {}, Int8Weights) of an int8 one."""
    model = _load_onnx(path)
    manifest = manifest_from_onnx(model, str(path))
    check_io_signature(manifest, *onnx_io_shapes(model), str(path))  # the graph must agree with the weights' manifest
    if manifest.precision == "int8" or is_quantized(model):
        if not dequantize_int8:
            raise ModelFileError(f"{path} is an int8-quantized model; run it with the onnxruntime backend")
        from smplpix_rt.generator.int8_weights import read_int8_weights

        return manifest, {}, read_int8_weights(model, str(path))
    state = {k: torch.from_numpy(np.array(v, copy=True)) for k, v in onnx_state_dict(model).items()}
    return manifest, state, None


def _load_weights(net: torch.nn.Module, state: Mapping[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise ModelFileError(
            f"{path}: weights for {len(missing)} tensor(s) of the {type(net).__name__} are missing "
            f"(first: {missing[:3]}); the file does not match its manifest's architecture"
        )
    converted = {}
    for key, target in expected.items():
        if key not in state:
            continue
        value = state[key]
        if tuple(value.shape) != tuple(target.shape):
            raise ModelFileError(
                f"{path}: tensor {key} has shape {tuple(value.shape)}, the architecture expects {tuple(target.shape)}"
            )
        converted[key] = value.to(target.dtype)
    net.load_state_dict(converted, strict=False)


__all__ = [
    "export_onnx",
    "quantize_int8",
    "save_torch",
    "load_graph",
    "onnx_state_dict",
    "is_quantized",
]
