"""Body-model benchmarks: our cached models against the ``anny`` and ``smplx`` forwards.

Numbers are medians of per-call wall-clock times in milliseconds (batch 1, CPU). The comparison
runs every model with the same number of PyTorch threads (default 1, the body models' default).
Run ``python -m smplpix_rt.body.bench`` for the full comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np

from smplpix_rt.body.base import BodyModel


def _median_ms(fn: Callable[[int], object], iters: int, warmup: int = 5) -> float:
    for i in range(warmup):
        fn(i)
    times = []
    for i in range(iters):
        start = time.perf_counter()
        fn(i)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e3)


def bench_body(body: BodyModel, iters: int = 200, seed: int = 0) -> dict:
    """Time ``body.forward``.

    Returns:
        ``{"body", "vertices", "pose_only_ms", "motion_ms", "single_joint_ms", "full_update_ms"}``:
        a new random pose every call, every joint rotated (shape and expression fixed); the pose
        of the next frame of the built-in demo motion every call (sequence playback: the joints
        the motion moves); one joint changed per call (a slider drag); and new shape, expression and pose
        every call.
    """
    from smplpix_rt.body.poses import random_pose

    rng = np.random.default_rng(seed)
    spec = body.spec
    base = body.default_params()
    count = 32
    poses = [random_pose(spec, rng, 0.5, include_root=True) for _ in range(count)]
    shapes = [rng.uniform(spec.shape_ranges[:, 0], spec.shape_ranges[:, 1]).astype(np.float32) for _ in range(count)]
    exprs = [
        rng.uniform(spec.expression_ranges[:, 0], spec.expression_ranges[:, 1]).astype(np.float32) * 0.3
        for _ in range(count)
    ]
    params = [base.replace(pose=p) for p in poses]
    pose_only = _median_ms(lambda i: body.forward(params[i % count]), iters)

    from smplpix_rt.body.sequence import demo_motion

    motion = demo_motion(body, count, 30.0)  # one seamless loop of `count` frames; its poses only
    playback = [base.replace(pose=motion.params_at(k / 30.0, base).pose) for k in range(count)]
    motion_ms = _median_ms(lambda i: body.forward(playback[i % count]), iters)

    from smplpix_rt.body.poses import joint_indices

    joint = joint_indices(spec).get("left_elbow", spec.num_joints // 2)
    sliders = []
    for k in range(count):
        pose = poses[0].copy()
        pose[joint, 1] += 0.02 * k
        sliders.append(base.replace(pose=pose))
    single = _median_ms(lambda i: body.forward(sliders[i % count]), iters)

    full = [base.replace(pose=poses[k], shape=shapes[k], expression=exprs[k]) for k in range(count)]
    full_update = _median_ms(lambda i: body.forward(full[i % count]), max(10, iters // 4))
    return {
        "body": spec.name,
        "vertices": body.topology.num_vertices,
        "pose_only_ms": round(pose_only, 3),
        "motion_ms": round(motion_ms, 3),
        "single_joint_ms": round(single, 3),
        "full_update_ms": round(full_update, 3),
    }


def bench_anny_reference(iters: int = 50, seed: int = 0, threads: int | None = 1) -> dict | None:
    """Time ``anny.Anny(facial_actions="all")`` forwards (float32, inference mode), or None without anny.

    Returns:
        ``{"load_s", "forward_ms", "forward_lbs_ms"}``: warm load time of the default model, one
        forward with a random pose, phenotype and expression with its default skinning (NVIDIA
        Warp when installed) and with ``skinning_method="lbs"``.
    """
    try:
        import anny
        import torch
    except ImportError:
        return None
    from smplpix_rt.body.skinning import axis_angle_to_matrix, torch_threads

    rng = np.random.default_rng(seed)
    out: dict = {}
    for key, kwargs in (("forward_ms", {}), ("forward_lbs_ms", {"skinning_method": "lbs"})):
        start = time.perf_counter()
        model = anny.Anny(facial_actions="all", **kwargs).to(dtype=torch.float32)
        if key == "forward_ms":
            out["load_s"] = round(time.perf_counter() - start, 2)
        num_bones = len(model.bone_labels)
        deltas = []
        for _ in range(8):
            d = np.tile(np.eye(4, dtype=np.float32), (1, num_bones, 1, 1))
            d[0, :, :3, :3] = axis_angle_to_matrix(rng.normal(size=(num_bones, 3)).astype(np.float32) * 0.2)
            deltas.append(torch.from_numpy(d))
        phen = torch.from_numpy(rng.uniform(0, 1, (8, 1, len(model.phenotype_labels))).astype(np.float32))
        faces = torch.from_numpy(rng.uniform(0, 0.3, (8, 1, len(model.facial_action_labels))).astype(np.float32))

        def call(i: int, model=model, deltas=deltas, phen=phen, faces=faces):
            return model(deltas[i % 8], phenotype_kwargs=phen[i % 8], facial_actions=faces[i % 8])

        with torch_threads(threads), torch.inference_mode():
            out[key] = round(_median_ms(call, iters), 3)
    return out


def bench_smplx_reference(
    model_path: str | Path | None = None, iters: int = 50, seed: int = 0, threads: int | None = 1
) -> dict | None:
    """Time ``smplx.SMPLX`` forwards (float32, inference mode), or None without smplx.

    Without ``model_path`` a synthetic SMPL-X file (same sizes as the real model, 10 + 10
    directions) is written to a temporary folder. Returns ``{"model", "forward_ms"}``.
    """
    try:
        import smplx
        import torch
    except ImportError:
        return None
    from smplpix_rt.body.skinning import torch_threads
    from smplpix_rt.body.smplx_body import resolve_model_file

    with tempfile.TemporaryDirectory() as tmp:
        if model_path is None:
            from smplpix_rt.body.smplx_synthetic import write_synthetic_smplx

            path, label = write_synthetic_smplx(Path(tmp)), "synthetic"
        else:
            path = resolve_model_file(model_path)
            label = str(path)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints notices for 10+10-direction files
            model = smplx.SMPLX(str(path), use_pca=False, flat_hand_mean=True, ext=path.suffix[1:])
        rng = np.random.default_rng(seed)
        poses = [torch.from_numpy(rng.normal(size=(1, 165)).astype(np.float32) * 0.2) for _ in range(8)]
        betas = torch.from_numpy(rng.normal(size=(8, 1, model.num_betas)).astype(np.float32))

        def call(i: int):
            p = poses[i % 8]
            return model(
                betas=betas[i % 8],
                global_orient=p[:, :3],
                body_pose=p[:, 3:66],
                jaw_pose=p[:, 66:69],
                leye_pose=p[:, 69:72],
                reye_pose=p[:, 72:75],
                left_hand_pose=p[:, 75:120],
                right_hand_pose=p[:, 120:165],
            )

        with torch_threads(threads), torch.inference_mode():
            forward = _median_ms(call, iters)
        return {"model": label, "forward_ms": round(forward, 3)}


def run_all(iters: int = 200, smplx_path: str | Path | None = None, threads: int | None = 1, rounds: int = 2) -> dict:
    """Our two bodies and both references; speed-ups of pose-only updates over the references.

    Every measurement is repeated ``rounds`` times, ours and the references taking turns, and
    the smallest median of each is kept, so a burst of background load (another process, a
    thread pool still spinning) skews neither side of a ratio.

    Args:
        iters: timed calls per measurement of our bodies (a quarter for the references).
        smplx_path: a real SMPL-X model (default: a synthetic file of the same size).
        threads: PyTorch threads for every model (None: the process setting).
        rounds: repetitions of the whole comparison.
    """
    report = _one_round(iters, smplx_path, threads)
    for _ in range(rounds - 1):
        report = _fastest(report, _one_round(iters, smplx_path, threads))
    for ours, ref in (
        ("anny_body", "anny_reference"),
        ("smplx_body", "smplx_reference"),
        ("smplx_body_int16", "smplx_reference"),
        ("smplx_body_no_correctives", "smplx_reference"),
    ):
        if report.get(ours) and report.get(ref):
            fastest = min(v for k, v in report[ref].items() if k.startswith("forward"))
            report[f"{ours}_speedup_pose_only"] = round(fastest / report[ours]["pose_only_ms"], 1)
            report[f"{ours}_speedup_motion"] = round(fastest / report[ours]["motion_ms"], 1)
            report[f"{ours}_speedup_single_joint"] = round(fastest / report[ours]["single_joint_ms"], 1)
    return report


def _fastest(a: dict, b: dict) -> dict:
    """Per-key minimum of two reports of the same shape (non-numbers are taken from ``a``)."""
    out = {}
    for key, value in a.items():
        other = b.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            out[key] = _fastest(value, other)
        elif isinstance(value, (int, float)) and isinstance(other, (int, float)) and not isinstance(value, bool):
            out[key] = min(value, other)
        else:
            out[key] = value
    return out


def _one_round(iters: int, smplx_path: str | Path | None, threads: int | None) -> dict:
    import torch

    from smplpix_rt.body.anny_body import AnnyBody

    report: dict = {"torch_threads": threads or torch.get_num_threads()}
    start = time.perf_counter()
    anny_body = AnnyBody(threads=threads)
    anny_body.forward(anny_body.default_params())
    report["anny_body_load_s"] = round(time.perf_counter() - start, 3)
    report["anny_body"] = bench_body(anny_body, iters)
    report["anny_reference"] = bench_anny_reference(max(20, iters // 4), threads=threads)
    report["smplx_body"] = report["smplx_body_no_correctives"] = report["smplx_reference"] = None
    report["smplx_body_int16"] = None
    if importlib.util.find_spec("smplx") is not None:
        from smplpix_rt.body.smplx_body import SmplxBody
        from smplpix_rt.body.smplx_synthetic import write_synthetic_smplx

        with tempfile.TemporaryDirectory() as tmp:
            path = smplx_path or write_synthetic_smplx(Path(tmp))
            body = SmplxBody(path, threads=threads)
            report["smplx_body"] = {
                **bench_body(body, iters),
                "kernels": body.kernels,
                "corrective_precision": body.corrective_precision,
            }
            if body.corrective_precision == "int8":  # the finer matrix, for comparison
                int16 = SmplxBody(path, threads=threads, corrective_precision="int16")
                report["smplx_body_int16"] = bench_body(int16, iters)
            fast = SmplxBody(path, threads=threads, pose_correctives=False)
            report["smplx_body_no_correctives"] = bench_body(fast, iters)
        report["smplx_reference"] = bench_smplx_reference(smplx_path, max(20, iters // 4), threads=threads)
    report["anny_body"]["kernels"] = anny_body.kernels
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m smplpix_rt.body.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=200, help="timed calls per measurement (default 200)")
    parser.add_argument("--smplx", type=Path, default=None, help="SMPL-X model folder or file (default: synthetic)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads for all models (0: process default)")
    args = parser.parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):  # the reference models print while loading
        report = run_all(args.iters, args.smplx, args.threads or None)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
