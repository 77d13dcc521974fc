"""``smplpix bps ...`` (ModelNet40 demo, encoder benchmark, fit-regressor training) and ``smplpix fit-scan``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from smplpix_rt.cli.args import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bps`` command (actions ``modelnet40``, ``bench``, ``train-fit``) and ``fit-scan``."""
    bps = subparsers.add_parser(
        "bps",
        help="basis point sets: ModelNet40 demo, encoder benchmark, scan-fitting regressor training",
        description="Basis point set (BPS) tools.",
    )
    actions = bps.add_subparsers(dest="bps_action", metavar="ACTION")
    actions.required = True
    _add_modelnet40(actions)
    _add_bench(actions)
    _add_train_fit(actions)
    _add_fit_scan(subparsers)


def _add_modelnet40(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "modelnet40",
        help="train and test the BPS-MLP classifier on ModelNet40",
        description="Normalize the clouds, encode them with 512 random basis points (radius 1.7) as distances, "
        "train the BPS-MLP with Adam and report the test accuracy (published: about 89 %%). Reads the "
        "modelnet40_ply_hdf5_2048 files already on disk (needs h5py); downloads nothing.",
    )
    p.add_argument("--data", type=Path, required=True, help="the modelnet40_ply_hdf5_2048 folder (or its parent)")
    p.add_argument("--epochs", type=positive_int, default=1200, help="training epochs (default 1200, as published)")
    p.add_argument("--out", type=Path, default=None, help="folder for bps_mlp.safetensors and metrics.json")
    p.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    p.add_argument("--threads", type=positive_int, default=None, help="PyTorch threads (default: PyTorch's)")
    p.set_defaults(func=run_modelnet40)


def _add_bench(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "bench",
        help="encoder throughput against the original scikit-learn encoder (JSON)",
        description="Time the nearest-neighbour search of the encoder on noisy shape clouds and print JSON: "
        "clouds per second per method and thread count, and the speed-up over the original scikit-learn "
        "encoder (when scikit-learn is installed).",
    )
    p.add_argument("--clouds", type=positive_int, default=64, help="clouds per run (default 64)")
    p.add_argument("--points", type=positive_int, default=2048, help="points per cloud (default 2048)")
    p.add_argument("--basis", type=positive_int, default=512, help="basis points (default 512)")
    p.add_argument("--repeats", type=positive_int, default=3, help="runs per method; the best counts (default 3)")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn reference")
    p.set_defaults(func=run_bench)


def _add_train_fit(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "train-fit",
        help="train the scan-fitting regressor of a body model on synthetic scans",
        description="Draw random bodies, scan them synthetically (whole surface or one view, with noise), train "
        "the BPS regressors and measure them on held-out bodies. The shipped Anny regressor is made with "
        "'smplpix bps train-fit --body-model anny --out models/bps_fit_anny.safetensors'.",
    )
    _add_body_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="regressor file to write (.safetensors)")
    p.add_argument("--shapes", type=positive_int, default=None, help="random body shapes (default 1000)")
    p.add_argument("--epochs", type=positive_int, default=None, help="training epochs (default 100)")
    p.add_argument("--eval-bodies", type=positive_int, default=None, help="held-out bodies (default 25)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="PyTorch threads (default: PyTorch's)")
    p.set_defaults(func=run_train_fit)


def _add_fit_scan(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-scan",
        help="estimate body shape and global pose from a scan (.ply/.obj)",
        description="Fit the body model's shape, root rotation and translation to a scanned mesh or point cloud "
        "(BPS regressor, rigid ICP, then Levenberg-Marquardt on shape and pose; the limbs keep their neutral pose) "
        "and write an avatar state JSON for 'smplpix render --state' and the viewer.",
    )
    p.add_argument("scan", type=Path, help="the scan: a .ply or .obj mesh or point cloud")
    _add_body_arguments(p)
    p.add_argument("--out", type=Path, required=True, help="state JSON to write (e.g. params.json)")
    p.add_argument(
        "--regressor", type=Path, default=None, help="regressor file (default: models/bps_fit_<body model>.safetensors)"
    )
    p.add_argument("--units", default="m", choices=["m", "cm", "mm"], help="units of the scan (default m)")
    p.add_argument("--up", default="y", choices=["y", "z"], help="the scan's up axis (default y)")
    p.add_argument("--icp-iterations", type=int, default=10, help="rigid alignment steps (default 10; 0 = none)")
    p.add_argument(
        "--refine-iterations",
        type=int,
        default=3,
        help="Gauss-Newton steps on shape and pose at the end (default 3; 0 = regression only)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the point sampling (default 0)")
    p.set_defaults(func=run_fit_scan)


def _add_body_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--body-model", default="anny", help="body model name (default anny)")
    p.add_argument(
        "--body-model-path",
        type=Path,
        default=None,
        help="body model files, for SMPL-X: a folder with SMPLX_NEUTRAL.npz or the file itself",
    )


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        import torch

        torch.set_num_threads(threads)


def run_modelnet40(args: argparse.Namespace) -> int:
    from smplpix_rt.bps.modelnet import BpsMlpConfig, run_modelnet40

    _set_threads(args.threads)
    metrics = run_modelnet40(args.data, BpsMlpConfig(epochs=args.epochs), args.out)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(
            f"ModelNet40 BPS-MLP: test accuracy {100 * metrics['test_accuracy']:.2f} % "
            f"({metrics['train_clouds']} train / {metrics['test_clouds']} test clouds, {args.epochs} epochs, "
            f"encoding {metrics['encode_seconds']} s, training {metrics['train_seconds']} s)"
        )
    return 0


def run_bench(args: argparse.Namespace) -> int:
    from smplpix_rt.bps.bench import benchmark_encoder

    result = benchmark_encoder(args.clouds, args.points, args.basis, args.repeats, not args.no_sklearn)
    print(json.dumps(result, indent=2))
    return 0


def run_train_fit(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from smplpix_rt.body import load_body_model
    from smplpix_rt.bps.fit_model import save_regressor
    from smplpix_rt.bps.fit_train import FitTrainConfig, train_fit_regressor

    _set_threads(args.threads)
    config = FitTrainConfig(seed=args.seed)
    for field, value in (("n_shapes", args.shapes), ("epochs", args.epochs), ("eval_bodies", args.eval_bodies)):
        if value is not None:
            config = replace(config, **{field: value})
    body = load_body_model(args.body_model, args.body_model_path)
    regressor = train_fit_regressor(body, config)
    save_regressor(args.out, regressor)
    print(json.dumps({"regressor": str(args.out), **regressor.report["held_out"]}, indent=2))
    return 0


def run_fit_scan(args: argparse.Namespace) -> int:
    import numpy as np

    from smplpix_rt.body import load_body_model
    from smplpix_rt.bps.fit_data import rotation_matrix
    from smplpix_rt.bps.fit_model import load_regressor
    from smplpix_rt.bps.fit_scan import fit_scan_file
    from smplpix_rt.camera import framing_orbit
    from smplpix_rt.errors import InputError
    from smplpix_rt.state import AvatarState, save_state

    if args.icp_iterations < 0 or args.refine_iterations < 0:
        raise InputError("--icp-iterations and --refine-iterations must be >= 0")
    if args.out.suffix.lower() != ".json":
        raise InputError(f"--out must name a .json state file, got {args.out}")
    body = load_body_model(args.body_model, args.body_model_path)
    regressor = load_regressor(args.regressor, body) if args.regressor is not None else None
    fit = fit_scan_file(
        args.scan, body, regressor, args.units, args.up, args.icp_iterations, args.refine_iterations, args.seed
    )
    facing = rotation_matrix(fit.params.pose[0]) @ np.array([0.0, 0.0, 1.0])  # the body's front direction
    heading = float(np.degrees(np.arctan2(facing[0], facing[2])))
    save_state(args.out, body, AvatarState(fit.params, framing_orbit(fit.mesh.vertices, yaw_deg=heading)))
    shape = ", ".join(f"{n}={v:.2f}" for n, v in zip(body.spec.shape_names, fit.params.shape, strict=True))
    print(
        f"fitted {body.spec.name} to {args.scan}: {shape}; mean scan-to-surface distance "
        f"{fit.scan_distance_mm:.1f} mm -> {args.out}",
        file=sys.stdout,
    )
    return 0


__all__ = ["register"]
