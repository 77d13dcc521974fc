"""Training and held-out evaluation of the scan-fitting regressor on synthetic scans.

The shipped Anny regressor was made with::

    smplpix bps train-fit --body-model anny --out models/bps_fit_anny.safetensors --threads 1

(the defaults of :class:`FitTrainConfig`: 1000 shapes x 2 poses x 4 scans = 8000 synthetic scans;
about 7.5 minutes on two shared cores, 1.9 MB). The command prints the held-out errors that
:func:`evaluate_fit` measures; they are also stored in the file's report.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from smplpix_rt.body.base import BodyModel
from smplpix_rt.bps.basis import random_basis
from smplpix_rt.bps.fit_data import (
    ScanSampling,
    random_body,
    random_limb_pose,
    random_root,
    rotation_matrix,
    scan_points,
)
from smplpix_rt.bps.fit_model import FitRegressor, new_regressor
from smplpix_rt.bps.fit_scan import fit_scan
from smplpix_rt.bps.scan_io import Scan
from smplpix_rt.errors import InputError


@dataclass(frozen=True)
class FitTrainConfig:
    """Data and training settings of the scan-fitting regressor.

    Attributes:
        n_shapes: random body shapes (each costs one full body-model evaluation).
        poses_per_shape: root rotations / limb poses per shape.
        scans_per_pose: scans drawn from each posed body.
        n_basis, basis_radius, basis_seed: the pose network's random basis (radius in metres, around the
            scan mean) and the seed of both bases.
        shape_basis_jitter: the shape network's basis points are neutral-body surface points pushed
            out or in by up to 20 % from the body's mean and moved by this much noise (metres).
        pose_hidden, shape_hidden, dropout: network widths and dropout.
        rotation_noise_deg: orientation error simulated for the shape network's turned-back scans.
        epochs, batch_size, learning_rate: Adam training (cosine-decayed learning rate).
        sampling: how bodies and scans are drawn.
        eval_bodies: held-out bodies for the report (each gives one full and one single-view scan).
        seed: random seed of the data and the training.
    """

    n_shapes: int = 1000
    poses_per_shape: int = 2
    scans_per_pose: int = 4
    n_basis: int = 512
    basis_radius: float = 1.2
    basis_seed: int = 13
    shape_basis_jitter: float = 0.03
    pose_hidden: int = 256
    shape_hidden: int = 256
    dropout: float = 0.2
    rotation_noise_deg: float = 3.0
    epochs: int = 100
    batch_size: int = 256
    learning_rate: float = 1e-3
    sampling: ScanSampling = field(default_factory=ScanSampling)
    eval_bodies: int = 25
    seed: int = 0


def make_training_data(
    body: BodyModel, regressor: FitRegressor, config: FitTrainConfig, progress: bool = True
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Synthetic scans → features and targets of both networks: ``{"pose": (X, Y), "shape": (X, Y)}``.

    The shape network's scans are turned back by the true root rotation perturbed by a random
    rotation of about ``rotation_noise_deg``, as the orientation found at fitting time is not exact.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(config.seed)
    data: dict[str, tuple[list, list]] = {"pose": ([], []), "shape": ([], [])}
    for _ in tqdm(range(config.n_shapes), desc="synthetic scans", unit="shape", disable=not progress or None):
        params = random_body(body, rng, config.sampling)
        for k in range(config.poses_per_shape):
            if k:  # same shape, new pose: only skinning is recomputed
                pose = params.pose.copy()
                if rng.uniform() < config.sampling.pose_fraction:
                    pose = random_limb_pose(body, rng, config.sampling.pose_scale)
                pose[0] = random_root(rng, config.sampling.max_tilt_deg)
                params = params.replace(pose=pose)
            mesh = body.forward(params)
            partial = rng.uniform(size=config.scans_per_pose) < config.sampling.partial_fraction
            scans = np.stack([scan_points(mesh, rng, config.sampling, p) for p in partial])
            offsets = params.translation[None].astype(np.float64) - scans.astype(np.float64).mean(1)
            noise = np.radians(config.rotation_noise_deg) * rng.normal(size=(len(scans), 3))
            turns = np.stack([rotation_matrix(params.pose[0]) @ rotation_matrix(n) for n in noise])
            data["pose"][0].append(regressor.pose_features(scans))
            data["pose"][1].extend(regressor.pose_targets(params.pose[0], o) for o in offsets)
            data["shape"][0].append(regressor.shape_features(scans, turns))
            pairs = zip(turns, offsets, strict=True)
            data["shape"][1].extend(regressor.shape_targets(params.shape, r, o) for r, o in pairs)
    return {name: (np.concatenate(x), np.stack(y)) for name, (x, y) in data.items()}


def train_fit_regressor(body: BodyModel, config: FitTrainConfig = FitTrainConfig(), progress: bool = True):
    """Generate synthetic scans, train a regressor for ``body`` and measure it on held-out bodies.

    Returns:
        The trained :class:`FitRegressor`; its ``report`` holds the settings, timings and held-out errors.
    """
    import torch

    if min(config.n_shapes, config.poses_per_shape, config.scans_per_pose, config.epochs) < 1:
        raise InputError("train-fit needs at least one shape, pose, scan and epoch")
    torch.manual_seed(config.seed)
    pose_basis = random_basis(config.n_basis, 3, config.basis_radius, config.basis_seed)
    shape_basis = body_surface_basis(body, config.n_basis, config.shape_basis_jitter, config.basis_seed)
    regressor = new_regressor(
        body, pose_basis, shape_basis, config.sampling.n_points, config.pose_hidden, config.shape_hidden, config.dropout
    )
    start = time.perf_counter()
    data = make_training_data(body, regressor, config, progress)
    data_seconds = time.perf_counter() - start
    start = time.perf_counter()
    losses = {}
    for name, (x, y) in data.items():
        mean, std = y.mean(0).astype(np.float64), np.maximum(y.std(0), 1e-6).astype(np.float64)
        regressor.target_stats[name] = (mean, std)
        standardized = torch.from_numpy(((y - mean) / std).astype(np.float32))
        network = getattr(regressor, f"{name}_network")
        losses[name] = _train(network, torch.from_numpy(x), standardized, config, f"train {name}", progress)
        network.eval()
    train_seconds = time.perf_counter() - start
    held_out = evaluate_fit(body, regressor, config.eval_bodies, seed=config.seed + 1, progress=progress)
    regressor.report = {
        "config": asdict(config),
        "samples": int(len(data["pose"][0])),
        "final_losses": losses,
        "data_seconds": round(data_seconds, 1),
        "train_seconds": round(train_seconds, 1),
        "held_out": held_out,
    }
    return regressor


def body_surface_basis(body: BodyModel, n_points: int, jitter: float, seed: int) -> np.ndarray:
    """(n_points, 3) float32 basis around the neutral body's surface, centred at the surface mean.

    Surface points are scaled from the mean by a factor uniform in [0.8, 1.2] (bodies of other
    sizes) and moved by Gaussian noise of ``jitter`` metres.
    """
    rng = np.random.default_rng(seed)
    mesh = body.forward(body.default_params())
    points = scan_points(mesh, rng, ScanSampling(n_points=n_points, max_noise=0.0), partial=False).astype(np.float64)
    points -= points.mean(0)
    points *= rng.uniform(0.8, 1.2, size=(n_points, 1))
    return (points + rng.normal(scale=jitter, size=points.shape)).astype(np.float32)


def _train(network, features, targets, config: FitTrainConfig, label: str, progress: bool) -> float:
    """Adam with a cosine-decayed learning rate on the mean squared error; returns the last epoch's loss."""
    import torch
    from tqdm import tqdm

    optimizer = torch.optim.Adam(network.parameters(), lr=config.learning_rate)
    steps = config.epochs * -(-len(features) // config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    bar = tqdm(range(config.epochs), desc=label, unit="epoch", disable=not progress or None)
    total = 0.0
    for _ in bar:
        network.train()
        order = torch.randperm(len(features))
        total, count = 0.0, 0
        for i in range(0, len(order), config.batch_size):
            batch = order[i : i + config.batch_size]
            if len(batch) < 2:  # BatchNorm needs two samples
                continue
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(network(features[batch]), targets[batch])
            loss.backward()
            optimizer.step()
            schedule.step()
            total, count = total + loss.item() * len(batch), count + len(batch)
        total /= max(count, 1)
        bar.set_postfix(loss=f"{total:.4f}")
    return round(total, 5)


def evaluate_fit(
    body: BodyModel,
    regressor: FitRegressor,
    n_bodies: int = 50,
    seed: int = 1,
    icp_iterations: int = 10,
    refine_iterations: int = 8,
    progress: bool = True,
) -> dict:
    """Held-out errors of :func:`fit_scan` on synthetic scans of bodies with neutral limbs.

    Each body gets a random shape, heading, tilt and translation (up to 1 m), and is scanned twice:
    whole surface and single view (with up to 5 mm noise). Errors (means over scans, in
    ``"full"``, ``"single_view"`` and ``"all"``): ``vertex_error_mm`` (fitted vs true mesh),
    ``shape_error_mm`` (the two shapes in the neutral pose at the origin, i.e. shape alone),
    ``root_error_deg`` (rotation between fitted and true root) and ``scan_distance_mm``. With
    ``icp_iterations = refine_iterations = 0`` this measures the regressor alone.
    """
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    sampling = ScanSampling(n_points=regressor.scan_points, pose_fraction=0.0)
    rows: dict[str, list[list[float]]] = {"full": [], "single_view": []}
    for _ in tqdm(range(n_bodies), desc="held-out fits", unit="body", disable=not progress or None):
        truth = random_body(body, rng, sampling).replace(translation=rng.uniform(-1.0, 1.0, 3) * [1, 0.2, 1])
        mesh = body.forward(truth)
        neutral_truth = body.forward(body.default_params().replace(shape=truth.shape)).vertices
        for kind, partial in (("full", False), ("single_view", True)):
            points = scan_points(mesh, rng, sampling, partial)
            seed = int(rng.integers(1 << 31))
            fit = fit_scan(Scan(points), body, regressor, icp_iterations, refine_iterations, seed)
            neutral_fit = body.forward(body.default_params().replace(shape=fit.params.shape)).vertices
            relative = rotation_matrix(fit.params.pose[0]).T @ rotation_matrix(truth.pose[0])
            angle = np.degrees(np.arccos(np.clip((np.trace(relative) - 1) / 2, -1.0, 1.0)))
            rows[kind].append(
                [
                    np.linalg.norm(fit.mesh.vertices - mesh.vertices, axis=1).mean() * 1000,
                    np.linalg.norm(neutral_fit - neutral_truth, axis=1).mean() * 1000,
                    angle,
                    fit.scan_distance_mm,
                ]
            )
    names = ("vertex_error_mm", "shape_error_mm", "root_error_deg", "scan_distance_mm")
    report: dict = {"bodies": n_bodies, "icp_iterations": icp_iterations, "refine_iterations": refine_iterations}
    for kind, values in rows.items():
        mean = np.asarray(values).mean(0)
        report[kind] = {n: round(float(v), 2) for n, v in zip(names, mean, strict=True)}
    everything = np.asarray(rows["full"] + rows["single_view"])
    report["all"] = {n: round(float(v), 2) for n, v in zip(names, everything.mean(0), strict=True)}
    report["all"]["vertex_error_mm_median"] = round(float(np.median(everything[:, 0])), 2)
    return report


__all__ = ["FitTrainConfig", "make_training_data", "train_fit_regressor", "body_surface_basis", "evaluate_fit"]
