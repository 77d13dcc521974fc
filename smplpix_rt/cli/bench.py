"""``smplpix bench``: per-stage timings and end-to-end frame rate per available backend.

Speed targets are checked here, by numbers printed, never by timed assertions in tests.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import statistics
import sys
import time
from collections.abc import Callable

from smplpix_rt.cli.args import (
    add_frame_path_argument,
    add_model_arguments,
    count,
    image_size,
    nice_steps,
    positive_float,
    positive_int,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="measure per-stage timings and end-to-end fps",
        description="Render a moving body with each available backend and report median per-stage "
        "milliseconds and end-to-end frames per second; also time the body model's "
        "pose-only update against the reference forwards.",
    )
    add_model_arguments(p)
    add_frame_path_argument(p)
    p.add_argument("--size", type=image_size, default=(256, 256), help="N or WxH pixels (default 256)")
    p.add_argument("--frames", type=positive_int, default=60, help="timed frames per backend (default 60)")
    p.add_argument("--no-body-compare", action="store_true", help="skip the anny / smplx forward comparison")
    p.add_argument(
        "--viewer",
        action="store_true",
        help="also run the desktop viewer (scripted random edits, then sequence playback) with the fastest "
        "backend and compare its frame rates with the pipeline's; uses $DISPLAY or starts Xvfb",
    )
    p.add_argument(
        "--window-size", type=image_size, default=(1280, 800), help="viewer window WxH for --viewer (default 1280x800)"
    )
    p.add_argument(
        "--ui-gl-threads",
        type=count,
        default=0,
        metavar="N",
        help="for --viewer: the viewer's --ui-gl-threads (software OpenGL rasterizer threads of its window; default 0)",
    )
    p.add_argument(
        "--ui-pacing",
        default="auto",
        choices=("auto", "cap", "frames"),
        help="for --viewer: the viewer's --ui-pacing (UI frames at the cap or once per neural frame; default auto)",
    )
    p.add_argument(
        "--ui-max-fps",
        type=positive_float,
        default=60.0,
        metavar="FPS",
        help="for --viewer: the viewer's --max-fps (UI frame-rate cap; default 60)",
    )
    for flag, kind, choices, metavar, what in VIEWER_PASSTHROUGH:
        if kind is bool:
            p.add_argument(flag, action="store_true", default=None, help=f"for --viewer: the viewer's {flag} ({what})")
            continue
        p.add_argument(
            flag,
            type=kind,
            choices=choices,
            default=None,
            metavar=metavar,
            help=f"for --viewer: the viewer's {flag} ({what}; default: the viewer's)",
        )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    p.set_defaults(func=run)


#: Viewer options that ``--viewer`` passes on when given: (flag, type, choices, metavar, what it is).
VIEWER_PASSTHROUGH = (
    ("--overlap-stages", str, ("auto", "on", "off"), None, "when the render stages overlap"),
    ("--render-nice", nice_steps, None, "N", "render threads' priority below the UI's, 0-19"),
    ("--gil-switch-ms", positive_float, None, "MS", "Python's thread switch interval"),
    ("--partial-redraw", str, ("auto", "on", "off"), None, "whether UI frames redraw only what changed"),
    ("--whole-pixels", bool, None, None, "start with whole-pixel zoom"),
)


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


#: The viewer runs of ``--viewer``: (name, extra arguments, the pipeline workload it is rated against).
VIEWER_SCENARIOS = (
    ("random_edits", ["--script-random-edits", "1500", "--measure-alone-every", "150"], "random-edits"),
    ("playback", ["--sequence", "demo", "--exit-after", "20"], "demo"),
)
#: Frames (at least) of each pipeline timing that a viewer run is rated against: the viewer's runs
#: take half a minute, and a one-second timing of a shared machine is too noisy to divide by.
VIEWER_REFERENCE_FRAMES = 300
#: Viewer measurements copied into the report.
VIEWER_KEYS = (
    "ui_frame_ms_median",
    "ui_frame_ms_p95",
    "neural_fps",
    "latency_ms_median",
    "latency_ms_p95",
    "edit_interval_ms_median",
    "generator_ms",
    "rss_mb_end",
    "rss_growth_percent",
    "neural_fps_share_of_alone",
    "share_of_alone_per_stretch",
    "alone_fps",
)


def _bench_viewer(
    args: argparse.Namespace, model, backend: str, time_pipeline: Callable[[str], float] | None = None
) -> dict:
    """Run ``smplpix-viewer`` in a subprocess per scenario and collect its measurements.

    Args:
        args: the bench's command line.
        model, backend: what the viewer runs.
        time_pipeline: times the pipeline alone on a workload (see :func:`_bench_pipeline`) and
            returns its end-to-end fps. It is called right before and right after each scenario
            with that scenario's workload (``report["pipeline_fps"]``), and the scenario's neural
            fps is rated against the mean of the two: a shared machine's speed drifts over the
            minutes the viewer runs take, and the viewer's random edits are another load on the
            pipeline than the demo motion.
    """
    import os
    import subprocess
    import tempfile
    from pathlib import Path

    from smplpix_rt.errors import SmplpixError

    window = args.window_size
    command = _viewer_command(args, model, backend)
    with contextlib.ExitStack() as stack:
        display = os.environ.get("DISPLAY")
        if not display:
            from smplpix_rt.virtual_display import virtual_display

            display = stack.enter_context(virtual_display(*window))
        env = {**os.environ, "DISPLAY": display}
        env.pop("WAYLAND_DISPLAY", None)
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        report: dict = {
            "window": list(window),
            "backend": backend,
            "ui_gl_threads": args.ui_gl_threads,
            "ui_pacing": args.ui_pacing,
            "ui_max_fps": args.ui_max_fps,
            **{_dest(flag): getattr(args, _dest(flag)) for flag, *_ in VIEWER_PASSTHROUGH},
        }
        reference: dict[str, list[float]] = {}
        for name, extra, workload in VIEWER_SCENARIOS:
            if time_pipeline is not None:
                reference[name] = [time_pipeline(workload)]
            stats = folder / f"{name}.json"
            done = subprocess.run(
                [*command, *extra, "--stats-json", str(stats)], env=env, capture_output=True, text=True, timeout=600
            )
            if done.returncode != 0 or not stats.exists():
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise SmplpixError(f"the viewer run '{name}' failed (exit {done.returncode}): {last}")
            measured = json.loads(stats.read_text())
            report[name] = {key: measured.get(key) for key in VIEWER_KEYS}
            if time_pipeline is not None:
                reference[name].append(time_pipeline(workload))
                _rate(report[name], statistics.mean(reference[name]))
        if reference:
            report["pipeline_fps"] = reference
    return report


def _viewer_command(args: argparse.Namespace, model, backend: str) -> list[str]:
    """The ``smplpix-viewer`` command line (as this Python runs it) shared by every scenario."""
    width, height = args.size
    window = args.window_size
    command = [sys.executable, "-c", "import sys; from smplpix_viewer.main import main; sys.exit(main())"]
    command += [str(model), "--backend", backend, "--size", f"{width}x{height}"]
    command += ["--window-size", f"{window[0]}x{window[1]}"]
    command += ["--ui-gl-threads", str(args.ui_gl_threads), "--ui-pacing", args.ui_pacing]
    command += ["--max-fps", f"{args.ui_max_fps:g}"]
    for flag, *_ in VIEWER_PASSTHROUGH:
        value = getattr(args, _dest(flag))
        if value is True:
            command.append(flag)
        elif value is not None:
            command += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    if args.body_model:
        command += ["--body-model", args.body_model]
    if args.body_model_path:
        command += ["--body-model-path", str(args.body_model_path)]
    return command


def _rate(scenario: dict, pipeline_fps: float) -> None:
    """Add the pipeline's fps and the scenario's neural fps as a share of it."""
    fps = scenario.get("neural_fps") or 0.0
    scenario["pipeline_fps"] = round(pipeline_fps, 2)
    scenario["neural_fps_share_of_bench"] = round(fps / pipeline_fps, 3) if pipeline_fps else None


def _bench_pipeline(pipeline, frames: int, overlapped: bool = True, workload: str = "demo") -> dict:
    """Time ``pipeline`` one frame at a time (and overlapped, for batch rendering).

    ``workload``: ``"demo"``, the built-in demo motion (smooth poses and facial actions, fixed
    camera); ``"random-edits"``, the viewer's scripted edits (a random pose every frame, a new
    shape every 7th, a new camera yaw every 11th; :func:`smplpix_rt.body.poses.random_edit`).
    """
    import numpy as np

    from smplpix_rt.body.poses import random_edit_sequence
    from smplpix_rt.body.sequence import demo_motion
    from smplpix_rt.camera import framing_orbit

    body = pipeline.body
    base = body.default_params()
    orbit = framing_orbit(body.forward(base).vertices)
    camera = orbit.camera(pipeline.width, pipeline.height)
    if workload == "demo":
        motion = demo_motion(body, frames + 5, 30.0)
        requests = [(motion.params_at(i / 30.0, base), camera) for i in range(frames + 5)]
    elif workload == "random-edits":
        states = random_edit_sequence(body.spec, base, base.shape, orbit, np.random.default_rng(0), frames + 5)
        requests = [(params, view.camera(pipeline.width, pipeline.height)) for params, view in states]
    else:
        raise ValueError(f"unknown workload {workload!r}")
    stages = {"body_ms": [], "raster_ms": [], "generator_ms": [], "total_ms": []}
    start = None
    for i in range(frames + 5):
        if i == 5:  # warm-up done
            start = time.perf_counter()
        frame = pipeline.render(*requests[i])
        if i >= 5:
            for key in stages:
                stages[key].append(getattr(frame.timings, key))
    wall = time.perf_counter() - start
    info = pipeline.runtime.describe()
    result = {
        "backend": info.backend,
        "device": info.device,
        "precision": info.precision,
        "frame_path": pipeline.frame_path,
    }
    result.update({k: round(statistics.median(v), 3) for k, v in stages.items()})
    result["end_to_end_fps"] = round(frames / wall, 2)
    # batch rendering: the next frame rasterized while the generator runs
    if overlapped and pipeline.frame_path == "host":
        stream = pipeline.render_many(requests, overlap=True)
        for _ in range(5):
            next(stream)
        start = time.perf_counter()
        for _ in stream:
            pass
        result["overlapped_fps"] = round(frames / (time.perf_counter() - start), 2)
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
        config = PipelineConfig(
            model, backend, width, height, args.body_model, args.body_model_path, frame_path=args.frame_path
        )
        try:
            with Pipeline.open(config) as pipeline:
                results.append(_bench_pipeline(pipeline, args.frames))
            if args.frame_path == "auto" and results[-1]["frame_path"] == "interop":  # compare with host copies
                with Pipeline.open(dataclasses.replace(config, frame_path="host")) as pipeline:
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
    if args.viewer:
        best = max(results, key=lambda r: r["end_to_end_fps"])
        config = PipelineConfig(model, best["backend"], width, height, args.body_model, args.body_model_path)

        def time_pipeline(workload: str) -> float:
            with Pipeline.open(config) as pipeline:
                frames = max(args.frames, VIEWER_REFERENCE_FRAMES)
                return _bench_pipeline(pipeline, frames, overlapped=False, workload=workload)["end_to_end_fps"]

        report["viewer"] = _bench_viewer(args, model, best["backend"], time_pipeline)
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
    print(
        f"{'backend':<14}{'device':<8}{'precision':<10}{'frames':<9}"
        f"{'body':>8}{'raster':>8}{'generator':>11}{'total':>8}{'fps':>8}{'overlapped':>12}"
    )
    for r in report["backends"]:
        print(
            f"{r['backend']:<14}{r['device']:<8}{r['precision']:<10}{r['frame_path']:<9}{r['body_ms']:>8.2f}"
            f"{r['raster_ms']:>8.2f}{r['generator_ms']:>11.2f}{r['total_ms']:>8.2f}{r['end_to_end_fps']:>8.1f}"
            f"{r.get('overlapped_fps', '-'):>12}"
        )
    print(
        "fps: one frame at a time (each frame's latency); overlapped: batch rendering, the next frame posed and "
        "rasterized while the generator runs (smplpix render)"
    )
    if any(r["frame_path"] == "interop" for r in report["backends"]):
        print("(interop: the GPU rasterizes while the generator runs; raster is the time to issue the draw)")
    for name, why in report["skipped_backends"].items():
        print(f"{name:<14}skipped: {why}")
    if "viewer" in report:
        viewer = report["viewer"]
        print(
            f"viewer, {viewer['window'][0]}x{viewer['window'][1]} window, {viewer['backend']}, "
            f"UI pacing {viewer.get('ui_pacing', 'auto')}, cap {viewer.get('ui_max_fps', 60):g} fps, "
            f"overlapping stages {viewer.get('overlap_stages') or 'auto'} "
            "(the pipeline alone on the same kind of frames, timed before and after each run):"
        )
        for name, *_ in VIEWER_SCENARIOS:
            v = viewer[name]
            paired = v.get("neural_fps_share_of_alone")
            paired = f" ({paired:.0%} of the render worker alone, timed in between)" if paired else ""
            print(
                f"  {name:<13} UI frame {v['ui_frame_ms_median']} ms (p95 {v['ui_frame_ms_p95']}), "
                f"neural {v['neural_fps']} fps = {v['neural_fps_share_of_bench']:.0%} of the pipeline's "
                f"{v['pipeline_fps']}{paired}, latency {v['latency_ms_median']} ms, RSS {v['rss_mb_end']} MB"
            )
    if "body" in report:
        print("body model update (ms):")
        print(json.dumps(report["body"], indent=2))
