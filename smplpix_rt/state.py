"""The avatar state file: body parameters and camera as readable JSON.

Layout (every key optional except ``body_model``; angles in degrees, lengths in metres)::

    {
      "body_model": "anny",
      "shape": {"height": 0.7, ...},             # by shape parameter name
      "expression": {"mouthSmileLeft": 0.5, ...},  # by expression parameter name
      "pose": {"root": [0, 30, 0], "upperarm01.L": [0, 0, -60], ...},  # axis-angle, degrees
      "translation": [0, 0, 0],
      "camera": {"yaw_deg": 0, "pitch_deg": 0, "distance": 2.6, "fov_y_deg": 30,
                 "target": [0, 0.9, 0], "pan": [0, 0]}
    }

Parameters not named keep their neutral value. Unknown names are errors, so a typo never passes
silently. The viewer saves and loads this file; ``smplpix render --state`` and ``fit-scan`` use it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.camera import OrbitCamera
from smplpix_rt.contracts import BodyParams
from smplpix_rt.errors import InputError


@dataclass(frozen=True)
class AvatarState:
    """Body parameters plus the orbit camera that views them."""

    params: BodyParams
    camera: OrbitCamera = OrbitCamera()


def params_to_dict(body: BodyModel, params: BodyParams) -> dict:
    """JSON-ready dict of the non-neutral parameters (see module docs)."""
    spec, neutral = body.spec, body.default_params()
    pose = {
        spec.joint_names[j]: [round(float(v), 4) for v in np.degrees(params.pose[j])]
        for j in range(spec.num_joints)
        if np.any(params.pose[j] != 0)
    }
    shape = {n: float(v) for n, v, d in zip(spec.shape_names, params.shape, neutral.shape, strict=True) if v != d}
    expression = {n: float(v) for n, v in zip(spec.expression_names, params.expression, strict=True) if v != 0}
    return {
        "body_model": spec.name,
        "shape": shape,
        "expression": expression,
        "pose": pose,
        "translation": [float(v) for v in params.translation],
    }


def _named_values(section: dict, names: tuple[str, ...], what: str, source: str) -> dict[int, object]:
    if not isinstance(section, dict):
        raise InputError(f"{source}: '{what}' must be an object mapping names to values")
    out = {}
    for key, value in section.items():
        if key not in names:
            import difflib

            close = difflib.get_close_matches(key, names, n=2)
            hint = f" (did you mean {' or '.join(close)}?)" if close else ""
            raise InputError(f"{source}: unknown {what} name {key!r}{hint}")
        out[names.index(key)] = value
    return out


def _finite(values, n: int, what: str, source: str) -> np.ndarray:
    try:
        a = np.asarray(values, np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise InputError(f"{source}: {what} must be numbers, got {values!r}") from None
    if a.size != n or not np.isfinite(a).all():
        raise InputError(f"{source}: {what} must be {n} finite numbers, got {values!r}")
    return a


def params_from_dict(body: BodyModel, data: dict, source: str = "state") -> BodyParams:
    """Inverse of :func:`params_to_dict`; unknown names and bad values raise :class:`InputError`."""
    spec = body.spec
    name = data.get("body_model")
    if name is not None and name != spec.name:
        raise InputError(f"{source}: made for the {name!r} body model, but the {spec.name!r} body is in use")
    params = body.default_params()
    pose, shape, expression = params.pose.copy(), params.shape.copy(), params.expression.copy()
    for j, v in _named_values(data.get("pose", {}), spec.joint_names, "joint", source).items():
        pose[j] = np.radians(_finite(v, 3, f"pose of {spec.joint_names[j]}", source))
    for i, v in _named_values(data.get("shape", {}), spec.shape_names, "shape", source).items():
        shape[i] = _finite(v, 1, f"shape {spec.shape_names[i]}", source)[0]
    for i, v in _named_values(data.get("expression", {}), spec.expression_names, "expression", source).items():
        expression[i] = _finite(v, 1, f"expression {spec.expression_names[i]}", source)[0]
    translation = _finite(data.get("translation", [0, 0, 0]), 3, "translation", source)
    return body.validate(BodyParams(pose, shape, expression, translation))


def camera_from_dict(data: dict, source: str = "state") -> OrbitCamera:
    """An :class:`OrbitCamera` from the ``camera`` section (missing keys keep their defaults)."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: 'camera' must be an object")
    fields = {f.name for f in dataclasses.fields(OrbitCamera)}
    unknown = set(data) - fields
    if unknown:
        raise InputError(f"{source}: unknown camera keys {sorted(unknown)}; expected some of {sorted(fields)}")
    values = {}
    for key, value in data.items():
        n = {"target": 3, "pan": 2}.get(key, 1)
        a = _finite(value, n, f"camera {key}", source)
        values[key] = tuple(float(x) for x in a) if n > 1 else float(a[0])
    camera = OrbitCamera(**values)
    if not (camera.distance > 0 and 1 <= camera.fov_y_deg <= 170):
        raise InputError(f"{source}: camera distance must be > 0 and fov_y_deg within [1, 170]")
    return camera


def load_state(path: str | os.PathLike, body: BodyModel) -> AvatarState:
    """Read a state file. Raises :class:`InputError` naming the file on any problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"state file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"state file {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"state file {path} must hold a JSON object")
    params = params_from_dict(body, data, str(path))
    camera = camera_from_dict(data.get("camera", {}), str(path))
    return AvatarState(params, camera)


def save_state(path: str | os.PathLike, body: BodyModel, state: AvatarState) -> None:
    """Write a state file atomically (temporary file, then rename)."""
    data = params_to_dict(body, state.params)
    data["camera"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(state.camera).items()}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["AvatarState", "load_state", "save_state", "params_to_dict", "params_from_dict", "camera_from_dict"]
