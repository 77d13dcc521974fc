"""The model manifest: what a generator file expects and produces.

Every generator file carries one :class:`Manifest` — inside the ONNX metadata (key
``smplpix_manifest``), inside the safetensors header metadata (same key), or as a JSON sidecar next
to files that have no metadata of their own (``model.engine.json``, ``model.pt.json``). A runtime
reads it to learn the body model and G-buffer encoding the network was trained for, its input and
output tensor names, the channels it reads from each G-buffer plane, and how to rebuild the
network in PyTorch.

Normalization conventions (the only ones this format version defines):

* inputs ``"raw"``: G-buffer values are fed exactly as the rasterizer writes them (neural
  encoding: rest coordinates and normals in [-1, 1], mask in {0, 1}, depth as written; smplpix
  encoding: colours in [0, 1]). No scaling happens outside the network.
* output ``"unit"``: the network ends in a sigmoid; ``rgb`` is linear-to-display RGB in [0, 1].
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from smplpix_rt import __version__
from smplpix_rt.errors import InputError, ModelFileError

FORMAT_VERSION = 1
METADATA_KEY = "smplpix_manifest"

PLANE_CHANNELS = 4
"""Every G-buffer plane is an (H, W, 4) float32 render target."""

ENCODING_CHANNELS: dict[str, tuple[tuple[int, ...], ...]] = {
    "neural": ((0, 1, 2, 3), (0, 1, 2, 3)),
    "smplpix": ((0, 1, 2),),
}
"""Default channel selection per plane for the encodings the rasterizer produces.

``neural``: plane 0 = (rest_x, rest_y, rest_z, mask), plane 1 = (normal_x, normal_y, normal_z,
depth), all 8 channels used. ``smplpix``: plane 0 = (r, g, b, mask), the network reads RGB only.
"""

INPUT_NORMALIZATIONS = ("raw",)
OUTPUT_NORMALIZATIONS = ("unit",)
PRECISIONS = ("fp32", "fp16", "int8")

ParamValue = int | float | str | bool


class FrozenMap(Mapping):
    """A read-only, hashable, picklable mapping (architecture params, training metrics)."""

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Any:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._data.items())))

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise InputError(message)


@dataclass(frozen=True)
class InputSpec:
    """One network input, fed from one G-buffer plane.

    Attributes:
        name: tensor name, ``gbuffer0``, ``gbuffer1``, ... in plane order.
        channels: indices (0-3) of the plane channels the network reads, in the order it
            concatenates them.
    """

    name: str
    channels: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        _require(bool(self.name), "input name must not be empty")
        _require(len(self.channels) > 0, f"input {self.name!r} selects no channels")
        for c in self.channels:
            _require(
                isinstance(c, int) and not isinstance(c, bool) and 0 <= c < PLANE_CHANNELS,
                f"input {self.name!r}: channel {c!r} is not an integer in [0, {PLANE_CHANNELS - 1}]",
            )
        _require(len(set(self.channels)) == len(self.channels), f"input {self.name!r} repeats a channel")


@dataclass(frozen=True)
class Architecture:
    """A network architecture and the constructor arguments that rebuild it.

    Attributes:
        name: architecture name known to :func:`smplpix_rt.generator.networks.build_network`,
            e.g. ``"pixnet"`` or ``"smplpix-unet"``.
        params: constructor keyword arguments; values are ints, floats, strings or bools only.
            Stored read-only.
    """

    name: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(isinstance(self.name, str) and bool(self.name), "architecture name must be a non-empty string")
        _require(isinstance(self.params, Mapping), f"architecture params must be a mapping, got {self.params!r}")
        for key, value in self.params.items():
            _require(isinstance(key, str) and key.isidentifier(), f"architecture param name {key!r} is invalid")
            _require(
                isinstance(value, (int, float, str, bool)),
                f"architecture param {key!r} must be an int, float, string or bool, got {type(value).__name__}",
            )
        object.__setattr__(self, "params", FrozenMap(self.params))

    def kwargs(self) -> dict[str, ParamValue]:
        """The params as a fresh dict, ready for ``build_network(name, **kwargs)``."""
        return dict(self.params)


@dataclass(frozen=True)
class TrainingSummary:
    """How a generator was trained (informational; shown on model cards).

    Attributes:
        steps: optimizer steps taken.
        wall_time_s: training wall-clock time in seconds.
        dataset: a short description or path of the training data.
        metrics: validation metrics by name, e.g. ``{"psnr": 27.1, "ssim": 0.93}``. Read-only.
    """

    steps: int
    wall_time_s: float
    dataset: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(isinstance(self.steps, int) and not isinstance(self.steps, bool), "training steps must be an int")
        _require(self.steps >= 0, f"training steps must be >= 0, got {self.steps}")
        _require(_is_number(self.wall_time_s), "training wall_time_s must be a number")
        _require(isinstance(self.dataset, str), "training dataset must be a string")
        _require(isinstance(self.metrics, Mapping), "training metrics must be a mapping of name to number")
        for key, value in self.metrics.items():
            _require(isinstance(key, str) and _is_number(value), f"training metric {key!r} must be a number")
        object.__setattr__(self, "wall_time_s", float(self.wall_time_s))
        object.__setattr__(self, "metrics", FrozenMap({k: float(v) for k, v in self.metrics.items()}))


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Manifest:
    """Everything a runtime needs to know about a generator file.

    Attributes:
        body_model: body model the generator was trained with (``BodySpec.name``), e.g. ``"anny"``.
        body_model_version: ``BodySpec.version`` of that body model.
        encoding: G-buffer encoding name, e.g. ``"neural"`` or ``"smplpix"``.
        inputs: one :class:`InputSpec` per G-buffer plane, in plane order.
        architecture: network architecture and its constructor arguments.
        resolution: (H, W) the network was trained at (also the default render size).
        size_multiple: H and W given to the network must be multiples of this.
        output: name of the output tensor, (1, H, W, 3) float32.
        input_normalization: see the module docstring (``"raw"``).
        output_normalization: see the module docstring (``"unit"``).
        precision: numeric precision of the stored weights / graph: ``"fp32"``, ``"fp16"``, ``"int8"``.
        training: optional :class:`TrainingSummary`.
        created: ISO-8601 UTC time the file was written.
        tool_version: smplpix-rt version that wrote it.
        format_version: manifest format; only :data:`FORMAT_VERSION` is read.
    """

    body_model: str
    body_model_version: str
    encoding: str
    inputs: tuple[InputSpec, ...]
    architecture: Architecture
    resolution: tuple[int, int]
    size_multiple: int
    output: str = "rgb"
    input_normalization: str = "raw"
    output_normalization: str = "unit"
    precision: str = "fp32"
    training: TrainingSummary | None = None
    created: str = field(default_factory=_utc_now)
    tool_version: str = __version__
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "resolution", tuple(self.resolution))
        for name in ("body_model", "body_model_version", "encoding", "output", "created", "tool_version"):
            _require(isinstance(getattr(self, name), str), f"{name} must be a string")
        _require(bool(self.body_model), "body_model must not be empty")
        _require(bool(self.encoding), "encoding must not be empty")
        _require(
            self.format_version == FORMAT_VERSION,
            f"manifest format_version {self.format_version!r} is not supported (this smplpix-rt reads "
            f"{FORMAT_VERSION}); use the smplpix-rt version that wrote it or re-export the model",
        )
        _require(len(self.inputs) > 0, "a manifest needs at least one input")
        _require(all(isinstance(i, InputSpec) for i in self.inputs), "inputs must be InputSpec objects")
        names = [i.name for i in self.inputs]
        _require(len(set(names)) == len(names), f"input names repeat: {names}")
        _require(self.output not in names, f"output name {self.output!r} is also an input name")
        _require(isinstance(self.architecture, Architecture), "architecture must be an Architecture")
        _require(
            isinstance(self.size_multiple, int) and not isinstance(self.size_multiple, bool) and self.size_multiple > 0,
            f"size_multiple must be a positive int, got {self.size_multiple!r}",
        )
        _require(
            len(self.resolution) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in self.resolution),
            f"resolution must be two positive ints (H, W), got {self.resolution!r}",
        )
        _require(
            all(v % self.size_multiple == 0 for v in self.resolution),
            f"resolution {self.resolution} is not a multiple of size_multiple {self.size_multiple}",
        )
        _require(
            self.input_normalization in INPUT_NORMALIZATIONS,
            f"input_normalization {self.input_normalization!r} is unknown; expected one of {INPUT_NORMALIZATIONS}",
        )
        _require(
            self.output_normalization in OUTPUT_NORMALIZATIONS,
            f"output_normalization {self.output_normalization!r} is unknown; expected one of {OUTPUT_NORMALIZATIONS}",
        )
        _require(self.precision in PRECISIONS, f"precision {self.precision!r} is unknown; expected one of {PRECISIONS}")
        _require(
            self.training is None or isinstance(self.training, TrainingSummary),
            "training must be a TrainingSummary or None",
        )

    @property
    def in_channels(self) -> int:
        """Total number of channels the network reads (sum over inputs)."""
        return sum(len(i.channels) for i in self.inputs)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.inputs)

    def replace(self, **changes: Any) -> Manifest:
        """A copy with some fields replaced (validated again)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(changes)
        return Manifest(**values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the exact layout :meth:`from_dict` reads)."""
        training = None
        if self.training is not None:
            training = {
                "steps": self.training.steps,
                "wall_time_s": self.training.wall_time_s,
                "dataset": self.training.dataset,
                "metrics": dict(self.training.metrics),
            }
        return {
            "format_version": self.format_version,
            "body_model": self.body_model,
            "body_model_version": self.body_model_version,
            "encoding": self.encoding,
            "inputs": [{"name": i.name, "channels": list(i.channels)} for i in self.inputs],
            "output": self.output,
            "resolution": list(self.resolution),
            "size_multiple": self.size_multiple,
            "input_normalization": self.input_normalization,
            "output_normalization": self.output_normalization,
            "precision": self.precision,
            "architecture": {"name": self.architecture.name, "params": dict(self.architecture.params)},
            "training": training,
            "created": self.created,
            "tool_version": self.tool_version,
        }

    def to_json(self) -> str:
        """The manifest as a JSON string (stable key order, human-readable)."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_dict(cls, data: Any, source: str = "manifest") -> Manifest:
        """Validate a decoded JSON object strictly and build a manifest.

        Raises:
            ModelFileError: naming ``source``, on a missing, unknown or mistyped field, or on a
                format version this code does not read.
        """
        try:
            return _manifest_from_dict(data)
        except InputError as exc:
            raise ModelFileError(f"{source}: invalid smplpix manifest: {exc}") from None

    @classmethod
    def from_json(cls, text: str | bytes, source: str = "manifest") -> Manifest:
        """Parse and validate a manifest JSON string (see :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"{source}: smplpix manifest is not valid JSON ({exc})") from None
        return cls.from_dict(data, source)


_REQUIRED = {
    "format_version": int,
    "body_model": str,
    "body_model_version": str,
    "encoding": str,
    "inputs": list,
    "output": str,
    "resolution": list,
    "size_multiple": int,
    "input_normalization": str,
    "output_normalization": str,
    "precision": str,
    "architecture": dict,
    "training": (dict, type(None)),
    "created": str,
    "tool_version": str,
}


def _check_keys(data: Any, expected: set[str], where: str, optional: frozenset[str] = frozenset()) -> None:
    _require(isinstance(data, dict), f"{where} must be a JSON object, found {type(data).__name__}")
    missing = expected - optional - set(data)
    unknown = set(data) - expected
    _require(not missing, f"{where} lacks field(s) {sorted(missing)}")
    _require(not unknown, f"{where} has unknown field(s) {sorted(unknown)}")


def _manifest_from_dict(data: Any) -> Manifest:
    _require(isinstance(data, dict), f"expected a JSON object, found {type(data).__name__}")
    version = data.get("format_version")
    _require(
        version == FORMAT_VERSION,
        f"format_version {version!r} is not supported (this smplpix-rt reads {FORMAT_VERSION}); "
        "use the smplpix-rt version that wrote it or re-export the model",
    )
    _check_keys(data, set(_REQUIRED), "manifest")
    for key, kind in _REQUIRED.items():
        value = data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        _require(ok, f"field {key!r} has the wrong type ({type(value).__name__})")
    inputs = []
    for i, spec in enumerate(data["inputs"]):
        _check_keys(spec, {"name", "channels"}, f"inputs[{i}]")
        _require(isinstance(spec["name"], str), f"inputs[{i}].name must be a string")
        _require(isinstance(spec["channels"], list), f"inputs[{i}].channels must be a list of ints")
        inputs.append(InputSpec(spec["name"], tuple(spec["channels"])))
    arch = data["architecture"]
    _check_keys(arch, {"name", "params"}, "architecture")
    _require(isinstance(arch["params"], dict), "architecture.params must be a JSON object")
    training = None
    if data["training"] is not None:
        t = data["training"]
        _check_keys(t, {"steps", "wall_time_s", "dataset", "metrics"}, "training")
        training = TrainingSummary(t["steps"], t["wall_time_s"], t["dataset"], t["metrics"])
    return Manifest(
        body_model=data["body_model"],
        body_model_version=data["body_model_version"],
        encoding=data["encoding"],
        inputs=tuple(inputs),
        architecture=Architecture(arch["name"], arch["params"]),
        resolution=tuple(data["resolution"]),
        size_multiple=data["size_multiple"],
        output=data["output"],
        input_normalization=data["input_normalization"],
        output_normalization=data["output_normalization"],
        precision=data["precision"],
        training=training,
        created=data["created"],
        tool_version=data["tool_version"],
        format_version=data["format_version"],
    )


def default_inputs(encoding: str) -> tuple[InputSpec, ...]:
    """The standard input specs (``gbuffer0``, ...) for a known G-buffer encoding.

    Raises:
        InputError: for an encoding without a default channel selection.
    """
    if encoding not in ENCODING_CHANNELS:
        raise InputError(f"encoding {encoding!r} has no default channel selection; known: {sorted(ENCODING_CHANNELS)}")
    return tuple(InputSpec(f"gbuffer{i}", ch) for i, ch in enumerate(ENCODING_CHANNELS[encoding]))


def check_compatible(manifest: Manifest, body_name: str, encoding: str) -> None:
    """Raise if a generator cannot run on G-buffers of this body model and encoding.

    Args:
        manifest: the generator's manifest.
        body_name: ``BodySpec.name`` of the body model in use.
        encoding: name of the G-buffer encoding the rasterizer produces.

    Raises:
        ModelFileError: the generator was trained for another body model or encoding.
    """
    if manifest.body_model != body_name:
        raise ModelFileError(
            f"this generator was trained for body model {manifest.body_model!r} "
            f"(version {manifest.body_model_version}), not {body_name!r}; load a {body_name} generator "
            f"or switch the body model to {manifest.body_model!r}"
        )
    if manifest.encoding != encoding:
        raise ModelFileError(
            f"this generator reads the {manifest.encoding!r} G-buffer encoding, not {encoding!r}; "
            f"render with encoding {manifest.encoding!r} or load a generator trained on {encoding!r}"
        )


# -- storage -------------------------------------------------------------------------------------


def sidecar_path(model_path: str | Path) -> Path:
    """``model.engine`` → ``model.engine.json``: where a file without metadata keeps its manifest."""
    path = Path(model_path)
    return path.with_name(path.name + ".json")


def write_sidecar(manifest: Manifest, model_path: str | Path) -> Path:
    """Write the JSON sidecar of ``model_path`` atomically; returns its path."""
    from smplpix_rt.generator.fileio import write_atomic

    path = sidecar_path(model_path)
    write_atomic(path, manifest.to_json().encode("utf-8"))
    return path


def read_sidecar(model_path: str | Path) -> Manifest:
    """Read the JSON sidecar of ``model_path``.

    Raises:
        ModelFileError: the sidecar is missing or invalid.
    """
    path = sidecar_path(model_path)
    if not path.is_file():
        raise ModelFileError(
            f"{model_path}: its manifest {path.name} is missing; keep the .json file written next to the model"
        )
    return Manifest.from_json(path.read_bytes(), source=str(path))


def embed_in_onnx(model: Any, manifest: Manifest) -> None:
    """Store ``manifest`` in an ``onnx.ModelProto``'s ``metadata_props`` (replacing an old one)."""
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key = METADATA_KEY
    entry.value = manifest.to_json()


def manifest_from_onnx(model: Any, source: str = "ONNX model") -> Manifest:
    """Read the manifest from an ``onnx.ModelProto``.

    Raises:
        ModelFileError: the model has no or an invalid manifest.
    """
    return manifest_from_metadata({p.key: p.value for p in model.metadata_props}, source)


def check_io_signature(manifest: Manifest, inputs: Mapping[str, Any], outputs: Mapping[str, Any], source: str) -> None:
    """Compare a network file's declared inputs and outputs (name → shape) with its manifest.

    Every input must be one (1, H, W, 4) G-buffer plane and the output (1, H, W, 3); a dimension
    may be symbolic. Used for ONNX files by every backend that reads them.

    Raises:
        ModelFileError: names or shapes disagree with the manifest.
    """
    expected = list(manifest.input_names)
    if sorted(inputs) != sorted(expected):
        raise ModelFileError(f"{source}: model inputs {sorted(inputs)} differ from its manifest's {expected}")
    for name in expected:
        shape = list(inputs[name])
        if len(shape) != 4 or shape[-1] != PLANE_CHANNELS:
            raise ModelFileError(
                f"{source}: input {name} has shape {shape}; a generator input must be "
                f"(1, H, W, {PLANE_CHANNELS}) — one RGBA G-buffer plane. Re-export the model with smplpix-rt"
            )
    if manifest.output not in outputs:
        raise ModelFileError(f"{source}: output {manifest.output!r} is missing (has {sorted(outputs)})")
    shape = list(outputs[manifest.output])
    if len(shape) != 4 or shape[-1] != 3:
        raise ModelFileError(f"{source}: output {manifest.output} has shape {shape}, expected (1, H, W, 3)")


def onnx_io_shapes(model: Any) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """(inputs, outputs) of an ``onnx.ModelProto`` graph as name → shape (int or symbolic name per dim)."""

    def shape(value: Any) -> list[Any]:
        dims = value.type.tensor_type.shape.dim
        return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]

    initializers = {t.name for t in model.graph.initializer}
    inputs = {v.name: shape(v) for v in model.graph.input if v.name not in initializers}
    return inputs, {v.name: shape(v) for v in model.graph.output}


def manifest_from_metadata(metadata: Mapping[str, str] | None, source: str) -> Manifest:
    """Read the manifest from a string metadata map (ONNX ``metadata_props``, safetensors header)."""
    if not metadata or METADATA_KEY not in metadata:
        raise ModelFileError(
            f"{source} has no smplpix manifest (metadata key {METADATA_KEY!r}); "
            "export it with `smplpix export` or smplpix_rt.generator.export"
        )
    return Manifest.from_json(metadata[METADATA_KEY], source=source)


def safetensors_metadata(manifest: Manifest) -> dict[str, str]:
    """The safetensors header metadata that stores ``manifest``."""
    return {METADATA_KEY: manifest.to_json()}


def read_manifest(path: str | Path) -> Manifest:
    """Read the manifest of any generator file by its extension.

    ``.onnx`` → ONNX metadata, ``.safetensors`` → header metadata, anything else (``.engine``,
    ``.pt``) → JSON sidecar.

    Raises:
        ModelFileError: missing file, missing or invalid manifest.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception as exc:
            raise ModelFileError(f"{path} is not a valid ONNX model: {exc}") from None
        return manifest_from_onnx(model, str(path))
    if suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as handle:
                metadata = handle.metadata()
        except Exception as exc:
            raise ModelFileError(f"{path} is not a valid safetensors file: {exc}") from None
        return manifest_from_metadata(metadata, str(path))
    return read_sidecar(path)


__all__ = [
    "check_io_signature",
    "onnx_io_shapes",
    "FORMAT_VERSION",
    "METADATA_KEY",
    "ENCODING_CHANNELS",
    "InputSpec",
    "Architecture",
    "TrainingSummary",
    "Manifest",
    "default_inputs",
    "check_compatible",
    "sidecar_path",
    "write_sidecar",
    "read_sidecar",
    "embed_in_onnx",
    "manifest_from_onnx",
    "manifest_from_metadata",
    "safetensors_metadata",
    "read_manifest",
]
