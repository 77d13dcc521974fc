"""``smplpix synth | train | eval | export | import-smplpix``: the training side of the tool."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from smplpix_rt.cli.args import positive_float, positive_int


def register(sub: argparse._SubParsersAction) -> None:
    """Add the training subcommands to the ``smplpix`` parser."""
    _register_synth(sub)
    _register_train(sub)
    _register_eval(sub)
    _register_export(sub)
    _register_import(sub)


# -- synth ---------------------------------------------------------------------------------------


def _register_synth(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="render a synthetic training set of the default body",
        description="Render the default (Anny) body in random poses from varied cameras with a rich "
        "reference appearance (clothing, shadows, occlusion, highlights) into the frames + "
        "fits dataset layout. Validation and test use held-out poses and camera yaws.",
    )
    p.add_argument("--out", type=Path, required=True, help="new dataset folder")
    p.add_argument("--count", type=positive_int, required=True, help="training frames")
    p.add_argument("--val-count", type=positive_int, default=None, help="validation frames (default 10%% of --count)")
    p.add_argument("--test-count", type=positive_int, default=None, help="test frames (default 10%% of --count)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=positive_int, default=256, help="image side in pixels (default 256)")
    p.add_argument("--supersample", type=positive_int, default=2, help="anti-aliasing factor (default 2)")
    p.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from smplpix_rt.train.synth import SynthConfig, default_split_sizes, write_synthetic_dataset

    val, test = default_split_sizes(args.count)
    config = SynthConfig(
        args.out, args.count, args.val_count or val, args.test_count or test, args.seed, args.size, args.supersample
    )
    out = write_synthetic_dataset(config)
    print(f"wrote {config.count} + {config.val_count} + {config.test_count} frames to {out}")
    return 0


# -- train ---------------------------------------------------------------------------------------


def _arch_param(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, {"true": True, "false": False}.get(value.lower(), value)


def _register_train(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a generator on a dataset",
        description="Train a generator (G-buffer -> image) on a dataset folder. Multi-GPU / multi-node: "
        "torchrun --nproc_per_node N -m smplpix_rt.cli.main train ...",
    )
    p.add_argument("--data", type=Path, required=True, help="dataset folder (frames + fits or SMPLpix layout)")
    p.add_argument("--out", type=Path, required=True, help="run folder (new, or existing with --resume)")
    p.add_argument("--arch", default="pixnet", choices=["pixnet", "smplpix-unet"], help="architecture (default pixnet)")
    p.add_argument(
        "--filters", type=positive_int, default=None, help="filters of the first level (architecture default)"
    )
    p.add_argument(
        "--arch-param",
        type=_arch_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="further architecture argument, e.g. depth=5 (repeatable)",
    )
    p.add_argument("--encoding", default=None, help="G-buffer encoding (default: neural; smplpix for SMPLpix data)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=positive_int, default=None, help="optimizer steps (default 2000)")
    length.add_argument("--minutes", type=positive_float, default=None, help="train for this wall-clock time instead")
    p.add_argument("--batch-size", type=positive_int, default=8, help="frames per step and process (default 8)")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="peak learning rate (default 2e-3)")
    p.add_argument("--ssim-weight", type=float, default=0.2, help="weight of the (1 - SSIM) loss (default 0.2)")
    p.add_argument(
        "--vgg-weights",
        type=Path,
        default=None,
        help="local VGG16 weights (.pth/.safetensors) enabling the perceptual loss; never downloaded",
    )
    p.add_argument("--vgg-weight", type=float, default=0.1, help="weight of the perceptual loss (default 0.1)")
    p.add_argument("--shift", type=int, default=None, help="max random translation in pixels (default size/16, 0 off)")
    p.add_argument("--val-every", type=positive_int, default=500, help="validate every N steps (default 500)")
    p.add_argument("--checkpoint-every", type=positive_int, default=500, help="checkpoint every N steps (default 500)")
    p.add_argument("--val-frames", type=positive_int, default=256, help="validation frames used (default 256)")
    p.add_argument("--train-frames", type=positive_int, default=None, help="use only the first N training frames")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "bf16", "fp32"],
        help="autocast precision (default: bf16 where the CPU/GPU supports it)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads per process")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    p.add_argument("--no-tensorboard", action="store_true", help="do not write TensorBoard events")
    p.set_defaults(func=run_train)


def run_train(args: argparse.Namespace) -> int:
    from smplpix_rt.train.trainer import TrainConfig, train

    params = dict(args.arch_param)
    if args.filters is not None:
        params["base_filters" if args.arch == "pixnet" else "start_filters"] = args.filters
    config = TrainConfig(
        data=args.data,
        out=args.out,
        arch=args.arch,
        arch_params=params,
        encoding=args.encoding,
        steps=None if args.minutes else (args.steps or 2000),
        time_budget_s=args.minutes * 60 if args.minutes else None,
        batch_size=args.batch_size,
        lr=args.lr,
        ssim_weight=args.ssim_weight,
        vgg_weights=args.vgg_weights,
        vgg_weight=args.vgg_weight,
        max_shift=args.shift,
        val_every=args.val_every,
        checkpoint_every=args.checkpoint_every,
        val_limit=args.val_frames,
        train_limit=args.train_frames,
        precision=args.precision,
        threads=args.threads,
        seed=args.seed,
        resume=args.resume,
        tensorboard=not args.no_tensorboard,
    )
    result = train(config)
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        print(
            f"trained {result.steps} steps in {result.elapsed_s / 60:.1f} min; best validation "
            f"PSNR {result.best_psnr:.2f} dB, SSIM {result.best_ssim:.4f}; checkpoint {result.checkpoint}"
        )
    return 0


# -- eval ----------------------------------------------------------------------------------------


def _register_eval(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="PSNR / SSIM of a generator on a dataset split",
        description="Evaluate a generator file on a dataset split with any backend.",
    )
    p.add_argument("--model", type=Path, default=None, help="generator file (default: the shipped avatar)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"], help="split (default test)")
    p.add_argument("--backend", default="auto", choices=["auto", "torch", "onnxruntime", "tensorrt"])
    p.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N frames")
    p.add_argument("--csv", type=Path, default=None, help="write per-frame name,psnr,ssim here")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from smplpix_rt.pipeline import default_model_path
    from smplpix_rt.train.evaluate import evaluate

    model = args.model if args.model is not None else default_model_path()
    result = evaluate(model, args.data, args.split, args.backend, args.limit, progress=not args.json)
    if args.csv is not None:
        result.write_csv(args.csv)
    if args.json:
        print(json.dumps(result.summary(), indent=2))
    else:
        s = result.summary()
        print(
            f"{s['frames']} {s['split']} frames, {s['backend']}: PSNR {s['psnr']:.2f} dB, SSIM {s['ssim']:.4f}, "
            f"{s['ms_per_frame']:.1f} ms/frame"
        )
    return 0


# -- export --------------------------------------------------------------------------------------


def _register_export(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a training run to ONNX (int8, TensorRT optional)",
        description="Export the best checkpoint of a run: ONNX opset 17 with the manifest in its "
        "metadata; optionally int8 static QDQ calibrated on real frames "
        "(<name>.int8.onnx) and a TensorRT engine.",
    )
    p.add_argument("run", type=Path, help="training run folder")
    p.add_argument("--onnx", type=Path, required=True, help="target .onnx file (fp32)")
    p.add_argument("--int8", action="store_true", help="also write an int8 model; needs --calib")
    p.add_argument("--calib", type=Path, default=None, help="dataset folder for int8 calibration and comparison")
    p.add_argument("--calib-frames", type=positive_int, default=32, help="calibration frames (default 32)")
    p.add_argument("--engine", type=Path, default=None, help="also build a TensorRT engine (TensorRT + CUDA)")
    p.add_argument("--fp16", action="store_true", help="build the engine strongly typed in fp16")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from smplpix_rt.errors import InputError
    from smplpix_rt.train.export import export_run

    if args.fp16 and args.engine is None:
        raise InputError("--fp16 applies to the TensorRT engine; add --engine out.engine")
    result = export_run(
        args.run,
        args.onnx,
        int8=args.int8,
        calib=args.calib,
        calib_frames=args.calib_frames,
        engine=args.engine,
        fp16=args.fp16,
    )
    print(f"exported {result.checkpoint} -> {result.onnx}")
    if result.quantization is not None:
        q = result.quantization
        print(
            f"int8 -> {result.int8}: PSNR {q.psnr_fp32:.2f} -> {q.psnr_int8:.2f} dB ({q.psnr_change:+.2f}), "
            f"SSIM {q.ssim_fp32:.4f} -> {q.ssim_int8:.4f}, {q.ms_fp32:.1f} -> {q.ms_int8:.1f} ms/frame "
            f"on {q.frames} validation frames"
        )
    if result.engine is not None:
        print(f"TensorRT engine -> {result.engine}")
    return 0


# -- import-smplpix ------------------------------------------------------------------------------


def _register_import(sub) -> None:
    p = sub.add_parser(
        "import-smplpix",
        help="turn a SMPLpix checkpoint into a generator file",
        description="Convert a network saved by SMPLpix's own training (a torch state dict) and its "
        "SMPL-X vertex colours into an ONNX generator for the smplpix encoding.",
    )
    p.add_argument("checkpoint", type=Path, help="SMPLpix network file (e.g. network.h5)")
    p.add_argument("--colors", type=Path, required=True, help="smplx_verts_colors.txt: 10475 rows of R G B (0-255)")
    p.add_argument("--out", type=Path, required=True, help="target .onnx file")
    p.add_argument("--size", type=positive_int, default=512, help="image side the avatar was trained at (default 512)")
    p.set_defaults(func=run_import)


def run_import(args: argparse.Namespace) -> int:
    from smplpix_rt.train.import_smplpix import import_smplpix

    result = import_smplpix(args.checkpoint, args.colors, args.out, size=args.size)
    print(f"imported {args.checkpoint} -> {result.onnx} (vertex colours: {result.colors})")
    return 0
