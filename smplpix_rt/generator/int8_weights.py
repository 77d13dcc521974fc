"""Float weights from an int8 QDQ generator file, so that PyTorch (on a GPU, say) can run it.

``smplpix export --int8`` writes a QDQ graph: each convolution reads its weight and bias through a
``DequantizeLinear`` of an int8 (int32 for biases) initializer. ONNX Runtime's optimizer usually
folds the BatchNorms into the convolutions first (recent versions do; 1.30 kept them for some
networks), so a convolution whose BatchNorm is not in the file carries the folded weights, and a
BatchNorm that is in the file keeps its own parameters. Dequantizing the initializers gives float
weights that PyTorch runs at its own precision. Activations are not quantized then, so the result
sits between the int8 file under ONNX Runtime and the fp32 export.

Layers are matched to the network's modules by node name: the exporter names them
``/net/<module path with / for .>/<Op>`` (``/net/down.1/conv/Conv`` is ``down.1.conv``). A file
with another parametric layer, or names that do not fit the network, is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from smplpix_rt.errors import ModelFileError

_CONV_OPS = ("Conv", "ConvTranspose")
_NORM_OP = "BatchNormalization"
# Parametric layers the generator networks do not have: a file with them is not one of ours.
_UNSUPPORTED_OPS = ("InstanceNormalization", "LayerNormalization", "Gemm", "MatMul")


@dataclass(frozen=True)
class Int8Weights:
    """Float parameters read from an int8 file, by module path.

    Attributes:
        convs: (weight, bias or None) of every convolution.
        norms: (scale, bias, mean, var, epsilon) of every BatchNorm kept in the file.
    """

    convs: dict[str, tuple[np.ndarray, np.ndarray | None]]
    norms: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]]


def read_int8_weights(model: Any, source: str) -> Int8Weights:
    """The float parameters of an int8 QDQ ``onnx.ModelProto``.

    Raises:
        ModelFileError: the graph has layers this cannot map, or a weight comes from an
            operator other than an initializer, ``Identity`` or ``DequantizeLinear``.
    """
    from onnx import numpy_helper

    graph = model.graph
    unsupported = sorted({n.op_type for n in graph.node if n.op_type in _UNSUPPORTED_OPS})
    if unsupported:
        raise ModelFileError(
            f"{source}: this int8 file keeps {', '.join(unsupported)} layers, which PyTorch cannot take from it; "
            "run it with the onnxruntime backend, or give PyTorch the fp32 export"
        )
    initializers = {t.name: t for t in graph.initializer}
    producers = {out: node for node in graph.node for out in node.output}

    def value(name: str) -> np.ndarray:
        if name in initializers:
            return numpy_helper.to_array(initializers[name]).astype(np.float32)
        node = producers.get(name)
        if node is not None and node.op_type == "Identity":
            return value(node.input[0])
        if node is not None and node.op_type == "DequantizeLinear" and node.input[0] in initializers:
            return _dequantize(node, initializers, numpy_helper)
        kind = node.op_type if node is not None else "nothing"
        raise ModelFileError(f"{source}: weight {name!r} is computed by {kind}, not stored; cannot read it")

    convs, norms = {}, {}
    for node in graph.node:
        if node.op_type in _CONV_OPS:
            bias = value(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            convs[_module_path(node.name, source)] = (value(node.input[1]), bias)
        elif node.op_type == _NORM_OP:
            epsilon = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
            scale, bias, mean, var = (value(name) for name in node.input[1:5])
            norms[_module_path(node.name, source)] = (scale, bias, mean, var, float(epsilon))
    return Int8Weights(convs, norms)


def _dequantize(node: Any, initializers: dict[str, Any], numpy_helper: Any) -> np.ndarray:
    """``(q - zero_point) * scale`` with per-axis scales broadcast along the node's ``axis``."""
    q = numpy_helper.to_array(initializers[node.input[0]]).astype(np.float32)
    scale = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
    zero = (
        numpy_helper.to_array(initializers[node.input[2]]).astype(np.float32)
        if len(node.input) > 2 and node.input[2]
        else np.zeros_like(scale)
    )
    if scale.ndim == 1 and q.ndim > 1:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * q.ndim
        shape[axis] = scale.size
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return (q - zero) * scale


def _module_path(node_name: str, source: str) -> str:
    parts = node_name.strip("/").split("/")
    if len(parts) < 3 or parts[0] != "net" or not parts[-1].startswith((*_CONV_OPS, _NORM_OP)):
        raise ModelFileError(f"{source}: cannot tell which layer the node {node_name!r} belongs to")
    return ".".join(parts[1:-1])


def load_int8_weights(net: nn.Module, weights: Int8Weights, source: str) -> nn.Module:
    """Put ``weights`` into an eval-mode ``net`` built from the file's manifest, in place.

    A BatchNorm that the file folded into its convolution becomes an identity here.

    Raises:
        ModelFileError: the file's layers and the network's differ in names or shapes.
    """
    for _, norm_path in net.conv_norm_pairs():
        if norm_path not in weights.norms:  # folded into the convolution by the quantizer
            parent, _, name = norm_path.rpartition(".")
            setattr(net.get_submodule(parent), name, nn.Identity())
    convs = {name: m for name, m in net.named_modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)}
    norms = {name: m for name, m in net.named_modules() if isinstance(m, nn.BatchNorm2d)}
    for kind, modules, found in (("convolutions", convs, weights.convs), ("BatchNorms", norms, weights.norms)):
        if sorted(modules) != sorted(found):
            missing, extra = sorted(set(modules) - set(found)), sorted(set(found) - set(modules))
            raise ModelFileError(
                f"{source}: the file's {kind} do not match its manifest's architecture "
                f"(missing {missing[:3]}, unexpected {extra[:3]})"
            )
    with torch.no_grad():
        for name, module in convs.items():
            weight, bias = weights.convs[name]
            _copy(module.weight, weight, f"{source}: {name}")
            if bias is None:
                module.bias = None
            elif module.bias is None:
                module.bias = nn.Parameter(torch.from_numpy(bias))
            else:
                _copy(module.bias, bias, f"{source}: {name} bias")
        for name, module in norms.items():
            scale, bias, mean, var, epsilon = weights.norms[name]
            for target, value in ((module.weight, scale), (module.bias, bias)):
                _copy(target, value, f"{source}: {name}")
            for target, value in ((module.running_mean, mean), (module.running_var, var)):
                _copy(target, value, f"{source}: {name}")
            module.eps = epsilon
    return net


def _copy(target: torch.Tensor, value: np.ndarray, what: str) -> None:
    if tuple(value.shape) != tuple(target.shape):
        raise ModelFileError(f"{what} has shape {tuple(value.shape)}, the architecture expects {tuple(target.shape)}")
    target.copy_(torch.from_numpy(value))


__all__ = ["Int8Weights", "load_int8_weights", "read_int8_weights"]
