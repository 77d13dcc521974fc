"""``smplpix render``: headless rendering of a motion to MP4 or PNG frames."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from smplpix_rt.cli.args import add_frame_path_argument, add_model_arguments, image_size, positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render a motion headless to MP4 or PNG frames",
        description="Render the avatar headless (EGL) along a pose sequence or the built-in demo motion, "
        "at a fixed time step, to a video file or a folder of PNG frames.",
    )
    add_model_arguments(p)
    add_frame_path_argument(p)
    p.add_argument("--size", type=image_size, default=(256, 256), help="N or WxH pixels (default 256)")
    p.add_argument(
        "--frames",
        type=positive_int,
        default=None,
        help="number of frames (default: the whole sequence, or 90 for the demo motion)",
    )
    p.add_argument("--fps", type=positive_float, default=None, help="frame rate (default: the sequence's, or 30)")
    p.add_argument("--sequence", type=Path, default=None, help="pose sequence (.json, or AMASS .npz for SMPL-X)")
    p.add_argument("--state", type=Path, default=None, help="avatar state JSON: shape, expression, pose, camera")
    p.add_argument("--orbit", type=float, default=0.0, help="degrees the camera turns around the body over the clip")
    p.add_argument("--crf", type=int, default=20, help="H.264 quality, 0 (lossless) to 51 (default 20)")
    p.add_argument(
        "--overlap-stages",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pose and rasterize the next frame while the generator runs (default on; the frames are the same)",
    )
    p.add_argument("--out", type=Path, required=True, help="output .mp4/.mkv/.mov, or a folder for PNG frames")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from smplpix_rt.body.sequence import demo_motion, load_sequence
    from smplpix_rt.camera import framing_orbit
    from smplpix_rt.errors import InputError
    from smplpix_rt.pipeline import Pipeline, PipelineConfig
    from smplpix_rt.state import load_state
    from smplpix_rt.video import open_writer

    if not 0 <= args.crf <= 51:
        raise InputError(f"--crf must be within [0, 51], got {args.crf}")
    width, height = args.size
    config = PipelineConfig(
        args.model, args.backend, width, height, args.body_model, args.body_model_path, frame_path=args.frame_path
    )
    with Pipeline.open(config) as pipeline:
        body = pipeline.body
        base = body.default_params()
        orbit = framing_orbit(body.forward(base).vertices)
        if args.state is not None:
            state = load_state(args.state, body)
            base, orbit = state.params, state.camera
        if args.sequence is not None:
            sequence = load_sequence(args.sequence, body)
        else:
            sequence = demo_motion(body, args.frames or 90, args.fps or 30.0)
        fps = args.fps or sequence.fps
        frames = args.frames or len(sequence)

        def requests():
            for i in range(frames):
                yaw = orbit.yaw_deg + args.orbit * i / max(frames, 1)
                yield sequence.params_at(i / fps, base), dataclasses.replace(orbit, yaw_deg=yaw).camera(width, height)

        writer = open_writer(args.out, fps, width, height, crf=args.crf)
        try:
            stream = pipeline.render_many(requests(), overlap=args.overlap_stages)
            for frame in tqdm(stream, total=frames, desc="render", unit="frame", disable=None):
                writer.write(frame.image)
        except BaseException:
            writer.abort()
            raise
        out = writer.close()
    print(f"wrote {frames} frames to {out}")
    return 0
