"""The training loop: a generator learns G-buffer → image from a dataset folder.

One process trains on CPU or one GPU; ``torchrun --nproc_per_node N -m smplpix_rt.cli.main train
...`` trains with DistributedDataParallel on N processes (NCCL on GPUs, gloo on CPUs; multi-node
through torchrun's usual ``--nnodes`` / ``--rdzv-endpoint``). Every rank holds the dataset in
memory and draws its batches from its own disjoint share of the training frames; rank 0 validates,
writes checkpoints, samples, logs and curves.

Loss: L1 + ``ssim_weight`` · (1 − SSIM), plus ``vgg_weight`` · VGG16 feature L1 when local VGG
weights are given. Adam with a linear warm-up and a cosine decay over the run (steps or wall
time). bf16 autocast where the CPU (AVX512-BF16 / AMX) or GPU supports it; validation runs in
float32, like the exported model.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from smplpix_rt.errors import InputError
from smplpix_rt.train.checkpoint import (
    BEST_NAME,
    CHECKPOINT_DIR,
    TrainProgress,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
    step_path,
)


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``smplpix train`` can set.

    Attributes:
        data: dataset folder (frames + fits or SMPLpix layout).
        out: run folder (created; must be new unless ``resume``).
        arch: generator architecture (``pixnet`` or ``smplpix-unet``).
        arch_params: extra constructor arguments of the architecture (``in_channels`` is derived).
        encoding: G-buffer encoding; None = ``neural`` (frames layout) or ``smplpix`` (SMPLpix layout).
        steps: optimizer steps to train (the schedule's length) when no time budget is set.
        time_budget_s: train for this many wall-clock seconds instead (the schedule follows time).
        batch_size: frames per step and rank.
        lr: peak learning rate.
        warmup_steps: linear warm-up length.
        min_lr_ratio: final learning rate as a fraction of ``lr``.
        ssim_weight: weight of the (1 − SSIM) term.
        vgg_weights: local VGG16 weights enabling the perceptual loss (never downloaded).
        vgg_weight: weight of the perceptual term.
        max_shift: largest random translation in pixels (None = 1/16 of the image side; 0 = off).
        val_every: validate (and write samples and curves) every this many steps.
        checkpoint_every: write a checkpoint every this many steps.
        keep_checkpoints: step checkpoints kept (plus ``best``).
        val_limit: validate on at most this many frames (None = all).
        train_limit: use at most this many training frames (None = all).
        sample_count: frames in each sample grid.
        precision: ``auto`` (bf16 where supported), ``bf16`` or ``fp32``.
        threads: CPU threads per process (None = PyTorch's default).
        seed: random seed.
        resume: continue from the run's newest checkpoint.
        progress: show a progress bar.
        tensorboard: write TensorBoard events.
    """

    data: Path
    out: Path
    arch: str = "pixnet"
    arch_params: dict = field(default_factory=dict)
    encoding: str | None = None
    steps: int | None = 2000
    time_budget_s: float | None = None
    batch_size: int = 8
    lr: float = 2e-3
    warmup_steps: int = 100
    min_lr_ratio: float = 0.02
    ssim_weight: float = 0.2
    vgg_weights: Path | None = None
    vgg_weight: float = 0.1
    max_shift: int | None = None
    val_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    val_limit: int | None = 256
    train_limit: int | None = None
    sample_count: int = 4
    precision: str = "auto"
    threads: int | None = None
    seed: int = 0
    resume: bool = False
    progress: bool = True
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.steps is None and self.time_budget_s is None:
            raise InputError("give the run a length: a number of steps or a time budget")
        checks = {
            "steps": self.steps is None or self.steps >= 1,
            "time budget": self.time_budget_s is None or self.time_budget_s > 0,
            "batch size": self.batch_size >= 1,
            "learning rate": self.lr > 0,
            "validation interval": self.val_every >= 1,
            "checkpoint interval": self.checkpoint_every >= 1,
            "kept checkpoints": self.keep_checkpoints >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"training settings must be positive: {', '.join(bad)}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise InputError(f"precision must be auto, bf16 or fp32, got {self.precision!r}")

    def to_json(self) -> dict:
        """JSON-ready dict (paths as strings)."""
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TrainResult:
    """What a finished run produced.

    Attributes:
        run: the run folder.
        steps: optimizer steps taken in total.
        elapsed_s: training wall time in total (all sessions).
        best_psnr, best_ssim: validation metrics of the best checkpoint.
        checkpoint: the checkpoint to export (best by validation PSNR).
    """

    run: Path
    steps: int
    elapsed_s: float
    best_psnr: float
    best_ssim: float
    checkpoint: Path


# -- environment ---------------------------------------------------------------------------------


def cpu_supports_bf16() -> bool:
    """True on CPUs with native bf16 arithmetic (AVX512-BF16 or AMX)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = handle.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class _Dist:
    rank: int
    world: int
    device: torch.device
    owns_group: bool = False  # this process group was started by train() and ends with it

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed() -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    owns = world > 1 and not torch.distributed.is_initialized()
    if owns:
        torch.distributed.init_process_group(backend="nccl" if cuda else "gloo")
    return _Dist(rank, world, device, owns)


def _use_bf16(precision: str, device: torch.device) -> bool:
    if precision == "fp32":
        return False
    supported = torch.cuda.is_bf16_supported() if device.type == "cuda" else cpu_supports_bf16()
    if precision == "bf16" and not supported:
        raise InputError("--precision bf16: this device has no native bf16 support; use auto or fp32")
    return supported


def lr_factor(progress: float, step: int, config: TrainConfig) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine from 1 to ``min_lr_ratio``."""
    warm = min(1.0, (step + 1) / max(config.warmup_steps, 1))
    progress = min(max(progress, 0.0), 1.0)
    cosine = config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return warm * cosine


# -- run folder ----------------------------------------------------------------------------------


def _check_run_folder(config: TrainConfig) -> Path | None:
    """The checkpoint to resume from, or None for a new run; refuses to overwrite anything."""
    out = Path(config.out)
    if config.resume:
        return latest_checkpoint(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        hint = "pass --resume to continue it" if list_checkpoints(out) else "choose a new --out folder"
        raise InputError(f"run folder {out} already exists and is not empty; {hint}")
    return None


# -- the session ---------------------------------------------------------------------------------


class _Session:
    """State of one training session (one process)."""

    def __init__(self, config: TrainConfig, dist: _Dist) -> None:
        self.dist = dist
        resume_from = _check_run_folder(config)
        checkpoint = load_checkpoint(resume_from) if resume_from is not None else None
        if checkpoint is not None:  # the run's architecture and encoding win over the command line
            arch = checkpoint.manifest.architecture
            config = replace(config, arch=arch.name, encoding=checkpoint.manifest.encoding)
        self.config = config
        self._load_data()
        params = checkpoint.manifest.architecture.kwargs() if checkpoint is not None else None
        self._build_network(params)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=config.lr, betas=(0.9, 0.99))
        self.progress = TrainProgress(0, 0.0)
        self.best_ssim = float("nan")
        self.validated_step = self.saved_step = -1
        if checkpoint is not None:
            self._restore(checkpoint)
        self.bf16 = _use_bf16(config.precision, dist.device)
        self.perceptual = None
        if config.vgg_weights is not None:
            from smplpix_rt.train.perceptual import VGGPerceptualLoss

            self.perceptual = VGGPerceptualLoss(config.vgg_weights).to(dist.device)
        self.model = self.net
        if dist.world > 1:
            ids = [dist.device.index] if dist.device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)

    def _load_data(self) -> None:
        """Read (rasterize) the training and validation splits; pick the encoding and augmentation."""
        from smplpix_rt.raster.encodings import get_encoding
        from smplpix_rt.train.datasets import LAYOUT_SMPLPIX, load_split, read_dataset_info

        config = self.config
        self.info = read_dataset_info(config.data)
        default = "smplpix" if self.info.layout == LAYOUT_SMPLPIX else "neural"
        self.encoding = get_encoding(config.encoding or default)
        if not self.encoding.is_generator_input:
            raise InputError(f"encoding {self.encoding.name!r} is for display only; train on neural or smplpix")
        show = config.progress and self.dist.main
        self.train = load_split(config.data, "train", self.encoding.name, limit=config.train_limit, progress=show)
        self.val = load_split(config.data, "validation", self.encoding.name, limit=config.val_limit, progress=show)
        self.plane_fill = torch.tensor([v for plane in self.encoding.clear_values for v in plane], dtype=torch.float16)
        side = min(self.train.size)
        self.max_shift = config.max_shift if config.max_shift is not None else side // 16

    def _build_network(self, params: dict | None) -> None:
        """The network (new, or with the checkpoint's architecture ``params``) and its manifest."""
        from smplpix_rt.generator.manifest import Architecture, Manifest, TrainingSummary, default_inputs
        from smplpix_rt.generator.networks import build_network

        config, info = self.config, self.info
        inputs = default_inputs(self.encoding.name)
        self.channels = [4 * i + c for i, spec in enumerate(inputs) for c in spec.channels]
        if params is None:
            params = {**config.arch_params, "in_channels": len(self.channels)}
        self.net = build_network(config.arch, **params)
        height, width = self.train.size
        multiple = self.net.size_multiple
        if height % multiple or width % multiple:
            raise InputError(f"{config.data}: images are {width}x{height}; {config.arch} needs multiples of {multiple}")
        version = info.description.get("body_model_version", "unknown") if info.description else "smplpix-dataset"
        self.manifest = Manifest(
            body_model=info.body_model,
            body_model_version=str(version),
            encoding=self.encoding.name,
            inputs=inputs,
            architecture=Architecture(config.arch, params),
            resolution=(height, width),
            size_multiple=multiple,
            training=TrainingSummary(0, 0.0, str(Path(config.data).resolve())),
        )
        self.net.to(self.dist.device, memory_format=torch.channels_last)

    def _restore(self, checkpoint) -> None:
        try:
            self.net.load_state_dict(checkpoint.weights, strict=True)
            if checkpoint.optimizer is not None:
                self.optimizer.load_state_dict(checkpoint.optimizer)
        except (RuntimeError, ValueError, KeyError) as exc:
            first = str(exc).splitlines()[0]
            raise InputError(f"{checkpoint.path}: the checkpoint does not fit its own architecture ({first})") from None
        self.progress = checkpoint.progress
        training = checkpoint.manifest.training
        self.best_ssim = float(training.metrics.get("ssim", float("nan"))) if training else float("nan")

    # ---------------------------------------------------------------------------- one step

    def batch(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """A random batch from this rank's share of the training frames."""
        from smplpix_rt.train.augment import random_shift

        share = torch.arange(self.dist.rank, len(self.train), self.dist.world)
        if len(share) == 0:
            raise InputError(f"{len(self.train)} training frames cannot feed {self.dist.world} processes")
        index = share[torch.randint(len(share), (self.config.batch_size,), generator=generator)]
        planes, targets = random_shift(
            self.train.planes[index], self.train.targets[index], self.plane_fill, self.max_shift, generator
        )
        x = planes[:, self.channels].float().to(self.dist.device).contiguous(memory_format=torch.channels_last)
        y = targets.float().to(self.dist.device) / 255.0
        return x, y

    def loss(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        from smplpix_rt.train.metrics import ssim

        prediction = prediction.float()
        loss = F.l1_loss(prediction, target)
        if self.config.ssim_weight > 0:
            loss = loss + self.config.ssim_weight * (1.0 - ssim(prediction, target).mean())
        if self.perceptual is not None:
            loss = loss + self.config.vgg_weight * self.perceptual(prediction, target)
        return loss

    def step(self, generator: torch.Generator, lr: float) -> float:
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.batch(generator)
        self.model.train()
        with torch.autocast(self.dist.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            prediction = self.model(x)
        loss = self.loss(prediction, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    # ------------------------------------------------------------------------- validation

    @torch.inference_mode()
    def validate(self, batch_size: int = 8) -> tuple[float, float, torch.Tensor]:
        """Mean validation PSNR and SSIM (float32) and the sample frames' predictions."""
        from smplpix_rt.train.metrics import psnr, ssim

        self.net.eval()
        psnrs, ssims, samples = [], [], []
        for start in range(0, len(self.val), batch_size):
            x = self.val.planes[start : start + batch_size][:, self.channels].float().to(self.dist.device)
            y = self.val.targets[start : start + batch_size].float().to(self.dist.device) / 255.0
            p = self.net(x.contiguous(memory_format=torch.channels_last)).float().clamp(0, 1)
            psnrs.append(psnr(p, y).cpu())
            ssims.append(ssim(p, y).cpu())
            if start < self.config.sample_count:
                samples.append(p.cpu())
        samples_t = torch.cat(samples)[: self.config.sample_count]
        return float(torch.cat(psnrs).mean()), float(torch.cat(ssims).mean()), samples_t


# -- reporting and checkpoints (rank 0) ----------------------------------------------------------


def _manifest_now(session: _Session, metrics: dict[str, float]):
    from smplpix_rt.generator.manifest import TrainingSummary

    p = session.progress
    summary = TrainingSummary(p.step, p.elapsed_s, str(Path(session.config.data).resolve()), metrics)
    return session.manifest.replace(training=summary)


def _validate_and_report(session: _Session, log, step: int) -> dict[str, float]:
    from smplpix_rt.train.report import input_preview, sample_grid, save_png

    value_psnr, value_ssim, predictions = session.validate()
    n = len(predictions)
    previews = input_preview(session.val.planes[:n], session.encoding.name)
    grid = sample_grid(previews, predictions, session.val.targets[:n].float() / 255.0)
    run = Path(session.config.out)
    save_png(run / "samples" / f"step_{step:08d}.png", grid)
    save_png(run / "samples" / "latest.png", grid)
    log.log(step, {"val/psnr": value_psnr, "val/ssim": value_ssim})
    log.plot()
    return {"psnr": value_psnr, "ssim": value_ssim}


def _save(session: _Session, metrics: dict[str, float] | None, best: bool) -> Path:
    run, p = Path(session.config.out), session.progress
    manifest = _manifest_now(session, metrics or {})
    path = save_checkpoint(
        step_path(run, p.step), session.net, session.optimizer, manifest, p, session.config.to_json()
    )
    if best:
        save_checkpoint(run / CHECKPOINT_DIR / BEST_NAME, session.net, None, manifest, p, session.config.to_json())
    prune_checkpoints(run, session.config.keep_checkpoints)
    return path


# -- the loop ------------------------------------------------------------------------------------


def _should_stop(session: _Session, step: int, elapsed: float) -> bool:
    c = session.config
    done = elapsed >= c.time_budget_s if c.time_budget_s is not None else step >= c.steps
    if session.dist.world > 1:  # everyone stops at the same step: rank 0 decides
        flag = torch.tensor([1.0 if done else 0.0])
        torch.distributed.broadcast(flag, src=0)
        done = bool(flag.item())
    return done


def _progress_of(config: TrainConfig, step: int, elapsed: float) -> float:
    if config.time_budget_s is not None:
        return elapsed / config.time_budget_s
    return step / config.steps


def _progress_bar(session: _Session):
    from tqdm import tqdm

    c = session.config
    total = c.steps if c.time_budget_s is None else int(c.time_budget_s)
    unit = "step" if c.time_budget_s is None else "s"
    start = session.progress.step if c.time_budget_s is None else int(session.progress.elapsed_s)
    enabled = c.progress and session.dist.main
    return tqdm(
        total=total, initial=min(start, total), unit=unit, desc="train", disable=not enabled or None, dynamic_ncols=True
    )


def _run_loop(session: _Session, log) -> None:
    c, dist = session.config, session.dist
    generator = torch.Generator().manual_seed(c.seed * 100_003 + dist.rank * 7919 + session.progress.step)
    bar = _progress_bar(session)
    start, base = time.perf_counter(), session.progress.elapsed_s
    losses: list[float] = []
    step = session.progress.step
    while not _should_stop(session, step, base + time.perf_counter() - start):
        elapsed = base + time.perf_counter() - start
        lr = c.lr * lr_factor(_progress_of(c, step, elapsed), step, c)
        losses.append(session.step(generator, lr))
        step += 1
        elapsed = base + time.perf_counter() - start
        session.progress = replace(session.progress, step=step, elapsed_s=elapsed)
        if dist.main:
            bar.update(1 if c.time_budget_s is None else int(elapsed) - bar.n)
            bar.set_postfix(loss=f"{losses[-1]:.4f}", lr=f"{lr:.2e}", best=f"{session.progress.best_psnr:.2f}dB")
            every = min(50, c.val_every)
            if step % every == 0:
                log.log(step, {"train/loss": sum(losses[-every:]) / len(losses[-every:]), "train/lr": lr})
        _periodic(session, log, step)
    bar.close()
    _periodic(session, log, step, final=True)


def _periodic(session: _Session, log, step: int, final: bool = False) -> None:
    c, dist = session.config, session.dist
    validate = (final or step % c.val_every == 0) and step != session.validated_step
    checkpoint = (final or validate or step % c.checkpoint_every == 0) and step != session.saved_step
    if not (validate or checkpoint):
        return
    if dist.main:
        metrics, best = None, False
        if validate:
            metrics = _validate_and_report(session, log, step)
            best = metrics["psnr"] > session.progress.best_psnr
            if best:
                session.progress = replace(session.progress, best_psnr=metrics["psnr"], best_step=step)
                session.best_ssim = metrics["ssim"]
        if checkpoint:
            _save(session, metrics, best)
    session.validated_step = step if validate else session.validated_step
    session.saved_step = step if checkpoint else session.saved_step
    if dist.world > 1:
        torch.distributed.barrier()


def _check_ranks_in_sync(net: torch.nn.Module) -> None:
    """Every rank must end with the same weights (DistributedDataParallel averages gradients)."""
    checksum = torch.stack([p.detach().double().sum() for p in net.parameters()]).sum().reshape(1).cpu()
    gathered = [torch.zeros_like(checksum) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(gathered, checksum)
    if not all(torch.allclose(g, gathered[0], rtol=1e-9, atol=1e-9) for g in gathered):
        raise RuntimeError(f"distributed ranks ended with different weights: {[float(g) for g in gathered]}")


def train(config: TrainConfig) -> TrainResult:
    """Train a generator (see module docs). Rank 0 writes everything under ``config.out``.

    Raises:
        InputError: invalid settings or dataset, or a run folder that would be overwritten.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    dist = _init_distributed()
    try:
        return _train(config, dist)
    finally:
        if dist.owns_group:
            # A process that exits with its gloo group alive can abort in the group's destructor
            # ("terminate called without an active exception"): end it here.
            torch.distributed.destroy_process_group()


def _train(config: TrainConfig, dist: _Dist) -> TrainResult:
    from smplpix_rt.train.report import RunLog

    torch.manual_seed(config.seed)
    session = _Session(config, dist)
    if dist.world > 1:  # every rank has checked the run folder before rank 0 writes into it
        torch.distributed.barrier()
    run = Path(session.config.out)
    log = None
    if dist.main:
        (run / CHECKPOINT_DIR).mkdir(parents=True, exist_ok=True)
        described = {
            **session.config.to_json(),
            "world_size": dist.world,
            "device": str(dist.device),
            "bf16": session.bf16,
        }
        (run / "config.json").write_text(json.dumps(described, indent=2) + "\n", encoding="utf-8")
        log = RunLog(run, tensorboard=config.tensorboard)
    try:
        _run_loop(session, log)
        if dist.world > 1:
            _check_ranks_in_sync(session.net)
    finally:
        if log is not None:
            log.close()
    p = session.progress
    best = run / CHECKPOINT_DIR / BEST_NAME
    return TrainResult(
        run, p.step, p.elapsed_s, p.best_psnr, session.best_ssim, best if best.is_file() else latest_checkpoint(run)
    )


__all__ = ["TrainConfig", "TrainResult", "train", "lr_factor", "cpu_supports_bf16"]
