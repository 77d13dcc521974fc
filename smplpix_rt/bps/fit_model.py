"""The scan-fitting regressor: BPS features of a body scan → root rotation, translation and shape.

Two small networks read ``deltas`` cells of the scan centred at its mean (metres; the scan is not
rescaled, so that body size stays visible), each against its own basis:

* the pose network sees the scan as it is, against random points in a ball (any heading is
  possible), and predicts the root rotation (the first two columns of its matrix, a continuous 6-D
  form) and the offset of the translation parameter from the scan mean (metres, world axes);
* the shape network sees the scan turned back by an estimate of the root rotation (``p @ R``, so the
  body stands in its neutral orientation), against points spread around the neutral body's surface
  (where the shapes differ), and predicts the shape parameters scaled to [0, 1] over the body
  model's shape ranges, and the translation offset in those turned-back axes.

Each network: BatchNorm on the input, two ReLU layers each followed by BatchNorm and dropout, a
linear output; it predicts its targets standardized with the training set's per-target mean and
standard deviation, which the regressor keeps.

File (safetensors): the weights in float16 (``pose.*``, ``shape.*``); the bases ``pose_basis`` and
``shape_basis`` ((M, 3) float32); the target statistics ``pose_target_mean``, ``pose_target_std``,
``shape_target_mean`` and ``shape_target_std`` (float32); the metadata ``format``
(``smplpix-bps-fit``), ``format_version``, ``body_model``, ``body_version``, ``shape_names`` (JSON),
``shape_ranges`` (JSON), ``pose_hidden``, ``shape_hidden``, ``dropout``, ``scan_points`` and
``report`` (JSON: how it was trained and its held-out errors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.bps.basis import as_clouds
from smplpix_rt.bps.encoder import encode
from smplpix_rt.bps.fit_data import matrix_to_axis_angle, rotation_matrix
from smplpix_rt.errors import ModelFileError

FORMAT = "smplpix-bps-fit"
FORMAT_VERSION = "1"
NETWORKS = ("pose", "shape")


@dataclass(eq=False)
class FitRegressor:
    """A trained regressor for one body model (see the module docs for the file layout).

    Attributes:
        pose_network: the pose MLP (``torch.nn.Sequential``), 9 outputs.
        shape_network: the shape MLP, S + 3 outputs.
        pose_basis: (M, 3) float32 basis of the pose network (metres, around the scan mean).
        shape_basis: (M', 3) float32 basis of the shape network (metres, around the turned-back scan's mean).
        body_model: body model name it was trained for.
        body_version: that body model's ``spec.version``.
        shape_names: S shape parameter names.
        shape_ranges: (S, 2) float32 [min, max] of each shape parameter.
        scan_points: points per scan the regressor was trained with.
        target_stats: per network, the (mean, std) float32 arrays that standardize its targets.
        report: training settings and held-out errors (JSON-ready).
    """

    pose_network: object
    shape_network: object
    pose_basis: np.ndarray
    shape_basis: np.ndarray
    body_model: str
    body_version: str
    shape_names: tuple[str, ...]
    shape_ranges: np.ndarray
    scan_points: int
    target_stats: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    def pose_features(self, scans: np.ndarray) -> np.ndarray:
        """(N, P, 3) scans → (N, M * 3) float32 pose-network inputs (deltas around each scan's mean)."""
        x, _ = as_clouds(scans, "scans")
        centred = x - x.mean(axis=1, keepdims=True)
        return encode(centred, self.pose_basis, "deltas").reshape(len(x), -1)

    def shape_features(self, scans: np.ndarray, rotations: np.ndarray) -> np.ndarray:
        """(N, P, 3) scans and (N, 3, 3) root rotations R → (N, M' * 3) float32 shape-network inputs.

        Each centred scan is turned back (``p @ R``) before encoding.
        """
        x, _ = as_clouds(scans, "scans")
        centred = x - x.mean(axis=1, keepdims=True)
        turned = np.einsum("npi,nij->npj", centred, np.asarray(rotations, np.float32))
        return encode(turned, self.shape_basis, "deltas").reshape(len(x), -1)

    def predict_pose(self, scan: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Root axis-angle (3,) and translation (3,) of one (P, 3) scan (metres, +Y up)."""
        row = self.run("pose", self.pose_features(scan[None]))[0]
        root = matrix_to_axis_angle(six_d_to_matrix(row[:6]))
        translation = scan.astype(np.float64).mean(0) + row[6:9]
        return root.astype(np.float32), translation.astype(np.float32)

    def predict_shape(self, scan: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Shape (S,) and translation (3,) of one (P, 3) scan, given its root axis-angle."""
        rotation = rotation_matrix(root)
        row = self.run("shape", self.shape_features(scan[None], rotation[None]))[0]
        s = len(self.shape_names)
        lo, hi = self.shape_ranges[:, 0].astype(np.float64), self.shape_ranges[:, 1].astype(np.float64)
        shape = lo + np.clip(row[:s], 0.0, 1.0) * (hi - lo)
        translation = scan.astype(np.float64).mean(0) + rotation @ row[s : s + 3]
        return shape.astype(np.float32), translation.astype(np.float32)

    def pose_targets(self, root: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """(9,) pose-network target: root rotation and translation offset from the scan mean (world)."""
        six = rotation_matrix(root)[:, :2].T.reshape(-1)
        return np.concatenate([six, np.asarray(offset, np.float64)]).astype(np.float32)

    def shape_targets(self, shape: np.ndarray, rotation: np.ndarray, offset: np.ndarray) -> np.ndarray:
        """(S + 3,) shape-network target for a scan turned back by ``rotation`` (3, 3)."""
        lo, hi = self.shape_ranges[:, 0], self.shape_ranges[:, 1]
        unit = (np.asarray(shape, np.float64) - lo) / np.maximum(hi - lo, 1e-9)
        local = np.asarray(rotation, np.float64).T @ np.asarray(offset, np.float64)
        return np.concatenate([unit, local]).astype(np.float32)

    def run(self, name: str, features: np.ndarray) -> np.ndarray:
        """(N, F) features → (N, K) float64 targets of the ``"pose"`` or ``"shape"`` network."""
        import torch

        network = getattr(self, f"{name}_network")
        mean, std = self.target_stats[name]
        network.eval()
        with torch.inference_mode():
            out = network(torch.from_numpy(features)).double().numpy()
        return out * std + mean


def make_network(n_inputs: int, n_outputs: int, hidden: int = 512, dropout: float = 0.1):
    """The BPS-MLP of :func:`smplpix_rt.bps.modelnet.make_classifier`, used here as a regressor."""
    from smplpix_rt.bps.modelnet import make_classifier

    return make_classifier(n_inputs, n_outputs, hidden, dropout)


def new_regressor(
    body: BodyModel,
    pose_basis: np.ndarray,
    shape_basis: np.ndarray,
    scan_points: int,
    pose_hidden: int,
    shape_hidden: int,
    dropout: float,
) -> FitRegressor:
    """An untrained regressor for ``body`` (float32 networks)."""
    spec = body.spec
    return FitRegressor(
        pose_network=make_network(pose_basis.size, 9, pose_hidden, dropout),
        shape_network=make_network(shape_basis.size, spec.num_shape + 3, shape_hidden, dropout),
        pose_basis=np.ascontiguousarray(pose_basis, np.float32),
        shape_basis=np.ascontiguousarray(shape_basis, np.float32),
        body_model=spec.name,
        body_version=spec.version,
        shape_names=tuple(spec.shape_names),
        shape_ranges=np.asarray(spec.shape_ranges, np.float32),
        scan_points=int(scan_points),
    )


def save_regressor(path: str | Path, regressor: FitRegressor) -> None:
    """Write the regressor file (weights in float16; see the module docs)."""
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for name in NETWORKS:
        tensors[f"{name}_basis"] = torch.from_numpy(getattr(regressor, f"{name}_basis"))
        mean, std = regressor.target_stats[name]
        tensors[f"{name}_target_mean"] = torch.from_numpy(np.asarray(mean, np.float32))
        tensors[f"{name}_target_std"] = torch.from_numpy(np.asarray(std, np.float32))
        for key, value in getattr(regressor, f"{name}_network").state_dict().items():
            tensors[f"{name}.{key}"] = value.detach().to(torch.float16) if value.is_floating_point() else value.detach()
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "body_model": regressor.body_model,
        "body_version": regressor.body_version,
        "shape_names": json.dumps(list(regressor.shape_names)),
        "shape_ranges": json.dumps(regressor.shape_ranges.tolist()),
        "pose_hidden": str(regressor.pose_network[1].out_features),
        "shape_hidden": str(regressor.shape_network[1].out_features),
        "dropout": str(regressor.pose_network[4].p),
        "scan_points": str(regressor.scan_points),
        "report": json.dumps(regressor.report),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    tmp.replace(path)


def load_regressor(path: str | Path, body: BodyModel | None = None) -> FitRegressor:
    """Read a regressor file; with ``body``, check that it was trained for that body model.

    Raises:
        ModelFileError: missing or unreadable file, wrong format, or a different body model.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"scan-fitting regressor {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path} is not a readable safetensors file: {e}") from None
    if meta.get("format") != FORMAT or "pose_basis" not in tensors or "shape_basis" not in tensors:
        raise ModelFileError(f"{path} is not a scan-fitting regressor (format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {meta.get('format_version')!r}, this build reads {FORMAT_VERSION!r}; "
            "train a new one with 'smplpix bps train-fit'"
        )
    try:
        names = tuple(json.loads(meta["shape_names"]))
        bases = {name: tensors[f"{name}_basis"].numpy().astype(np.float32) for name in NETWORKS}
        networks, stats = {}, {}
        for name, outputs in (("pose", 9), ("shape", len(names) + 3)):
            basis = bases[name]
            stats[name] = tuple(tensors[f"{name}_target_{k}"].numpy().astype(np.float64) for k in ("mean", "std"))
            network = make_network(basis.size, outputs, int(meta[f"{name}_hidden"]), float(meta["dropout"]))
            prefix = f"{name}."  # the weights; "pose_basis" etc. do not start with "pose."
            weights = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
            weights = {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}
            network.load_state_dict(weights)
            networks[name] = network.eval()
        regressor = FitRegressor(
            pose_network=networks["pose"],
            shape_network=networks["shape"],
            pose_basis=bases["pose"],
            shape_basis=bases["shape"],
            body_model=meta["body_model"],
            body_version=meta["body_version"],
            shape_names=names,
            shape_ranges=np.asarray(json.loads(meta["shape_ranges"]), np.float32).reshape(len(names), 2),
            scan_points=int(meta["scan_points"]),
            target_stats=stats,
            report=json.loads(meta.get("report", "{}")),
        )
    except (KeyError, ValueError, RuntimeError) as e:
        raise ModelFileError(f"{path} is a damaged scan-fitting regressor: {e}") from None
    if body is not None:
        check_compatible(regressor, body, path)
    return regressor


def check_compatible(regressor: FitRegressor, body: BodyModel, source: str | Path = "regressor") -> None:
    """Raise :class:`ModelFileError` unless the regressor was trained for this body model's shapes."""
    spec = body.spec
    if regressor.body_model != spec.name or regressor.shape_names != tuple(spec.shape_names):
        raise ModelFileError(
            f"{source} was trained for the {regressor.body_model!r} body with shapes {list(regressor.shape_names)}, "
            f"not the {spec.name!r} body with {list(spec.shape_names)}; train one with "
            f"'smplpix bps train-fit --body-model {spec.name} --out PATH'"
        )


def six_d_to_matrix(six: np.ndarray) -> np.ndarray:
    """(3, 3) rotation from the 6-D form (two columns, Gram-Schmidt orthonormalized)."""
    a, b = np.asarray(six[:3], np.float64), np.asarray(six[3:6], np.float64)
    x = a / max(np.linalg.norm(a), 1e-9)
    b = b - x * (x @ b)
    y = b / max(np.linalg.norm(b), 1e-9)
    return np.stack([x, y, np.cross(x, y)], axis=1)


__all__ = [
    "FORMAT",
    "FitRegressor",
    "make_network",
    "new_regressor",
    "save_regressor",
    "load_regressor",
    "check_compatible",
    "six_d_to_matrix",
]
