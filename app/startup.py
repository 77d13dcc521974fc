"""Opening the viewer: window, pipeline, state, controller, automation — or one clear error.

Everything that can fail on user input (the model, the body model files, the state file, the
recording path) fails here, before the window is shown, so the error goes to stderr. Later failures
(a model loaded from the Render panel, a recording folder that fills up) are shown in the window.
"""

from __future__ import annotations

import argparse

from smplpix_rt.pipeline import PipelineConfig
from smplpix_rt.raster.context import is_software_renderer

from .automation import Automation, AutomationOptions
from .controller import Controller
from .damage import redraws_changes_only
from .pacing import follows_frames
from .session import RenderSession, WorkerOptions
from .state import AppState, History, ModelSettings, RecordSettings, ViewMode
from .viewer import Viewer
from .window import Window, wake

VIEW_NAMES = {
    "neural": ViewMode.NEURAL,
    "gbuffer": ViewMode.GBUFFER,
    "mesh": ViewMode.MESH,
    "side-by-side": ViewMode.SIDE_BY_SIDE,
    "overlay": ViewMode.OVERLAY,
}


def pipeline_config(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline configuration the command line asks for (size: the model's training size by default)."""
    if args.size is not None:
        width, height = args.size
    else:
        from smplpix_rt.generator.manifest import read_manifest
        from smplpix_rt.pipeline import default_model_path

        height, width = read_manifest(args.model or default_model_path()).resolution
    return PipelineConfig(
        args.model,
        args.backend,
        width,
        height,
        args.body_model,
        args.body_model_path,
        gl_threads=args.render_gl_threads,
    )


def open_viewer(args: argparse.Namespace) -> Viewer:
    """Create the (hidden) window and everything shown in it.

    Raises:
        SmplpixError: no display, a model or state file that cannot be used, an unwritable
            recording path — with a one-line message.
    """
    window = Window(*args.window_size, gl_threads=args.ui_gl_threads)
    session = None
    try:
        config = pipeline_config(args)
        software = is_software_renderer(window.ctx)
        follow = follows_frames(args.ui_pacing, software)
        options = WorkerOptions(overlap=args.overlap_stages, nice=args.render_nice, hold_edits=follow)
        session = RenderSession(config, window.ctx, on_result=wake, options=options)
        state = initial_state(session, args)
        controller = Controller(state, session, config)
        if args.load_state is not None:
            controller.apply_state_file(args.load_state)
            state.history = History(state.avatar)  # the loaded state is where undo stops
        if args.record is not None:
            _check_record_target(args.record)
        options = AutomationOptions(
            record=args.record,
            exit_after=args.exit_after,
            screenshot=args.screenshot,
            screenshot_delay=args.screenshot_delay or 0.0,
            random_edits=args.script_random_edits,
            measure_alone_every=args.measure_alone_every,
            stats_json=args.stats_json,
            sequence=args.sequence,
        )
        partial = redraws_changes_only(args.partial_redraw, software, window.sub_buffer_copy is not None)
        automation = Automation(options, controller)
        return Viewer(
            window, controller, automation, max_fps=args.max_fps, follow_frames=follow, partial_redraw=partial
        )
    except BaseException:
        if session is not None:
            session.release()
        window.close()
        raise


def initial_state(session: RenderSession, args: argparse.Namespace) -> AppState:
    """The start-up state: neutral body framed from the front, settings from the command line."""
    pipeline, body = session.pipeline, session.pipeline.body
    state = AppState.create(body.spec, body.default_params(), session.home_camera, session.extras)
    state.model = ModelSettings(
        path=str(args.model or ""), backend=args.backend, width=pipeline.width, height=pipeline.height
    )
    width, height = args.record_size
    folder = args.record.parent if args.record is not None else "."
    state.record = RecordSettings(folder=str(folder), fps=args.record_fps, width=width, height=height)
    if args.view is not None:
        state.view.mode = VIEW_NAMES[args.view]
    state.view.whole_pixels = args.whole_pixels
    return state


def _check_record_target(path) -> None:
    from smplpix_rt.errors import InputError

    if path.suffix.lower() not in (".mp4", ".mkv", ".mov", ".gif"):
        raise InputError(f"--record {path}: use an .mp4, .mkv, .mov or .gif file name")
    if not path.parent.expanduser().is_dir():
        raise InputError(f"--record {path}: folder {path.parent} does not exist")


__all__ = ["VIEW_NAMES", "initial_state", "open_viewer", "pipeline_config"]
