"""``smplpix bench``: per-stage timings and end-to-end frame rate per available backend.

Speed targets are checked here, by numbers printed, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time

from smplpix_rt.cli.args import add_model_arguments, image_size, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure per-stage timings and end-to-end fps",
        description="Render a moving body with each available backend and report median per-stage "
        "milliseconds and end-to-end frames per second; also time the body model's "
        "pose-only update against the reference forwards.",
    )
    add_model_arguments(p)
    p.add_argument("--size", type=image_size, default=(256, 256), help="N or WxH pixels (default 256)")
    p.add_argument("--frames", type=positive_int, default=60, help="timed frames per backend (default 60)")
    p.add_argument("--no-body-compare", action="store_true", help="skip the anny / smplx forward comparison")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


def _bench_pipeline(pipeline, frames: int) -> dict:
    from smplpix_rt.body.sequence import demo_motion
    from smplpix_rt.camera import framing_orbit

    body = pipeline.body
    base = body.default_params()
    camera = framing_orbit(body.forward(base).vertices).camera(pipeline.width, pipeline.height)
    motion = demo_motion(body, frames + 5, 30.0)
    stages = {"body_ms": [], "raster_ms": [], "generator_ms": [], "total_ms": []}
    start = None
    for i in range(frames + 5):
        if i == 5:  # warm-up done
            start = time.perf_counter()
        frame = pipeline.render(motion.params_at(i / 30.0, base), camera)
        if i >= 5:
            for key in stages:
                stages[key].append(getattr(frame.timings, key))
    wall = time.perf_counter() - start
    info = pipeline.runtime.describe()
    result = {"backend": info.backend, "device": info.device, "precision": info.precision}
    result.update({k: round(statistics.median(v), 3) for k, v in stages.items()})
    result["end_to_end_fps"] = round(frames / wall, 2)
    return result


def run(args: argparse.Namespace) -> int:
    from smplpix_rt.errors import SmplpixError
    from smplpix_rt.pipeline import Pipeline, PipelineConfig, default_model_path
    from smplpix_rt.runtime.loader import available_backends

    width, height = args.size
    model = args.model or default_model_path()
    backends = (
        [args.backend]
        if args.backend != "auto"
        else [b["name"] for b in available_backends() if b["available"] and b["name"] != "tensorrt"]
    )
    if model.suffix == ".engine":
        backends = ["tensorrt"]
    results, errors = [], {}
    for backend in backends:
        config = PipelineConfig(model, backend, width, height, args.body_model, args.body_model_path)
        try:
            with Pipeline.open(config) as pipeline:
                results.append(_bench_pipeline(pipeline, args.frames))
        except SmplpixError as e:
            errors[backend] = str(e)
    if not results:
        raise SmplpixError("no backend could run the model: " + "; ".join(f"{k}: {v}" for k, v in errors.items()))
    report = {
        "model": str(model),
        "size": [width, height],
        "frames": args.frames,
        "backends": results,
        "skipped_backends": errors,
        "end_to_end_fps": max(r["end_to_end_fps"] for r in results),
    }
    if not args.no_body_compare:
        from smplpix_rt.body.bench import run_all

        with contextlib.redirect_stdout(sys.stderr):  # the reference models print while loading
            report["body"] = run_all(iters=100)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_table(report)
    return 0


def _print_table(report: dict) -> None:
    w, h = report["size"]
    print(f"model {report['model']} at {w}x{h}, median ms over {report['frames']} frames")
    print(f"{'backend':<14}{'precision':<10}{'body':>8}{'raster':>8}{'generator':>11}{'total':>8}{'fps':>8}")
    for r in report["backends"]:
        print(
            f"{r['backend']:<14}{r['precision']:<10}{r['body_ms']:>8.2f}{r['raster_ms']:>8.2f}"
            f"{r['generator_ms']:>11.2f}{r['total_ms']:>8.2f}{r['end_to_end_fps']:>8.1f}"
        )
    for name, why in report["skipped_backends"].items():
        print(f"{name:<14}skipped: {why}")
    if "body" in report:
        print("body model update (ms):")
        print(json.dumps(report["body"], indent=2))
