"""``smplpix-viewer``: the interactive desktop viewer.

    smplpix-viewer                       # the shipped default avatar
    smplpix-viewer model.onnx --backend onnxruntime --size 256
    smplpix-viewer --load-state pose.json --record clip.mp4 --exit-after 5   # a scripted capture

Exit codes: 0 success, 1 an error the user can fix (one line on stderr), 2 no display,
130 interrupted before the window opened.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from smplpix_rt import __version__
from smplpix_rt.cli.args import count, image_size, nice_steps, positive_float, positive_int
from smplpix_rt.errors import SmplpixError

from .damage import PARTIAL_REDRAW_MODES
from .pacing import OVERLAP_MODES, UI_PACINGS
from .window import NO_DISPLAY_MESSAGE, NoDisplayError, display_available, wake

PROG = "smplpix-viewer"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Pose, shape and look at a neural avatar live; record the viewport to MP4.",
        epilog="Automation timers (--record, --exit-after, --screenshot) start when the first avatar frame is shown.",
    )
    p.add_argument(
        "model",
        nargs="?",
        type=Path,
        default=None,
        help="generator file (.onnx, .pt, .safetensors, .engine); default: the shipped avatar",
    )
    p.add_argument("--version", action="version", version=f"smplpix-rt {__version__}")
    p.add_argument(
        "--backend",
        default="auto",
        choices=["auto", "torch", "onnxruntime", "tensorrt"],
        help="generator runtime (default: the fastest available)",
    )
    p.add_argument(
        "--size", type=image_size, default=None, help="generator output N or WxH (default: the model's training size)"
    )
    p.add_argument("--body-model", default=None, help="body model name (default: the one the model was trained for)")
    p.add_argument(
        "--body-model-path",
        "--smplx-path",
        type=Path,
        default=None,
        help="body model files; for SMPL-X a folder with SMPLX_NEUTRAL.npz or the file itself",
    )
    p.add_argument("--window-size", type=image_size, default=(1280, 800), help="window WxH (default 1280x800)")
    p.add_argument(
        "--view",
        default=None,
        choices=["neural", "gbuffer", "mesh", "side-by-side", "overlay"],
        help="start in this view mode",
    )
    p.add_argument(
        "--whole-pixels",
        action="store_true",
        help="start with whole-pixel zoom: images zoomed by whole numbers, nearest-neighbour (key Z toggles it)",
    )
    _add_pacing_arguments(p.add_argument_group("UI pacing and CPU sharing"))
    _add_automation_arguments(p.add_argument_group("automation (scripted captures)"))
    return p


#: How much lower (in nice steps) the render threads run than the UI thread, see ``--render-nice``.
RENDER_NICE = 5
#: Python's thread switch interval in the viewer, milliseconds. The UI thread runs Python (the
#: panels) for milliseconds per frame; with Python's default of 5 ms a render thread coming back
#: from a native call (GL, the generator) waits up to that long for the interpreter lock, once per
#: call. Measured: a rasterize loop next to a busy Python thread ran 21 calls/s at 5 ms, 63 at 1 ms.
GIL_SWITCH_MS = 0.5


def _add_pacing_arguments(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--max-fps", type=positive_float, default=60.0, help="UI frame-rate cap (default 60)")
    group.add_argument(
        "--ui-gl-threads",
        type=count,
        default=0,
        metavar="N",
        help="software OpenGL (Mesa llvmpipe) only: rasterizer threads for the window; the default 0 draws the UI "
        "on the UI thread, which leaves more of the CPU to the neural frames (LP_NUM_THREADS, when set, wins)",
    )
    group.add_argument(
        "--render-gl-threads",
        type=count,
        default=0,
        metavar="N",
        help="software OpenGL (Mesa llvmpipe) only: rasterizer threads for the render worker's G-buffer context; "
        "the default 0 rasterizes on the worker thread, which is as fast here and leaves the other core to the UI",
    )
    group.add_argument(
        "--gil-switch-ms",
        type=positive_float,
        default=GIL_SWITCH_MS,
        metavar="MS",
        help=f"Python's thread switch interval (default {GIL_SWITCH_MS:g} ms; Python's own is 5): how long the "
        "render threads may wait for the UI thread's Python code between their native calls",
    )
    group.add_argument(
        "--render-nice",
        type=nice_steps,
        default=RENDER_NICE,
        metavar="N",
        help=f"Linux: lower the render threads' priority by N below the UI thread's (0-19, default {RENDER_NICE}), "
        "so that UI frames keep their pace when every core is busy",
    )
    group.add_argument(
        "--overlap-stages",
        default="auto",
        choices=OVERLAP_MODES,
        help="pose and rasterize the next neural frame while the generator runs the previous one: more frames per "
        "second, longer edit-to-screen latency on a busy CPU; 'auto' (default) overlaps while a sequence plays "
        "or renders to video",
    )
    group.add_argument(
        "--partial-redraw",
        default="auto",
        choices=PARTIAL_REDRAW_MODES,
        help="redraw and present only the parts of the window that changed since the last frame; 'auto' "
        "(default) does under software OpenGL on X11, where every pixel drawn costs CPU the generator needs",
    )
    group.add_argument(
        "--ui-pacing",
        default="auto",
        choices=UI_PACINGS,
        help="while neural frames are being made for your edits: 'cap' draws the UI at --max-fps, 'frames' once "
        "per finished neural frame (leaves the CPU to the pipeline, shortens the edit-to-screen latency); "
        "'auto' (default) is 'frames' under software OpenGL and 'cap' otherwise",
    )


def _add_automation_arguments(auto: argparse._ArgumentGroup) -> None:
    auto.add_argument("--load-state", type=Path, default=None, help="start from this state file (JSON)")
    auto.add_argument("--record", type=Path, default=None, help="record the viewport to this .mp4 (or .gif) file")
    auto.add_argument("--record-fps", type=positive_float, default=30.0, help="recording frame rate (default 30)")
    auto.add_argument("--record-size", type=image_size, default=(512, 512), help="recording WxH (default 512)")
    auto.add_argument(
        "--exit-after",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="quit this many seconds after the first avatar frame (recordings are finalized)",
    )
    auto.add_argument("--screenshot", type=Path, default=None, help="save a PNG of the whole window once ready")
    auto.add_argument(
        "--screenshot-delay",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="take the --screenshot this many seconds after the first avatar frame (e.g. once the neural fps "
        "and latency figures have settled)",
    )
    auto.add_argument("--sequence", default=None, help="load and play a pose sequence file (or 'demo') once ready")
    auto.add_argument(
        "--script-random-edits",
        type=positive_int,
        default=0,
        metavar="N",
        help="make N random edits, one per UI frame, then quit (a measurement run)",
    )
    auto.add_argument(
        "--measure-alone-every",
        type=positive_int,
        default=0,
        metavar="N",
        help="with --script-random-edits: every N edits, time the render worker alone for a moment and rate "
        "the edits in between against it (neural_fps_share_of_alone in --stats-json)",
    )
    auto.add_argument("--stats-json", type=Path, default=None, help="write the run's measurements to this file")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.screenshot_delay is not None:
        if args.screenshot is None:
            parser.error("--screenshot-delay needs --screenshot")
        if args.exit_after is not None and args.screenshot_delay >= args.exit_after:
            parser.error("--screenshot-delay must be shorter than --exit-after (the viewer quits first)")
    if args.measure_alone_every and not args.script_random_edits:
        parser.error("--measure-alone-every needs --script-random-edits")
    if not display_available():
        print(f"{PROG}: {NO_DISPLAY_MESSAGE}", file=sys.stderr)
        return 2
    try:
        return _run(args)
    except SmplpixError as exc:
        if isinstance(exc, NoDisplayError):
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    from .startup import open_viewer

    sys.setswitchinterval(args.gil_switch_ms / 1000.0)
    viewer = open_viewer(args)  # raises SmplpixError with one line before the window is shown
    previous = {sig: signal.signal(sig, _stop_handler(viewer)) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        viewer.window.show()
        viewer.run()
        viewer.automation.write_report()
    finally:
        try:
            viewer.controller.close()  # finalizes a running recording, also after a signal
        finally:
            viewer.window.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0


def _stop_handler(viewer):
    def handle(signum, frame) -> None:
        viewer.stop_requested = True
        wake()

    return handle


if __name__ == "__main__":
    sys.exit(main())
