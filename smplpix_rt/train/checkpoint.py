"""Training checkpoints as safetensors (no pickle): weights, optimizer state and progress.

A checkpoint file is also a valid generator file: the network weights are stored under their
state-dict names and the manifest under the ``smplpix_manifest`` header key, so
``smplpix render --model RUN/checkpoints/best.safetensors`` runs it with the torch backend. The
Adam state is stored as ``optimizer.<param index>.<name>`` tensors, and progress (step, wall time,
best validation PSNR, optimizer hyper-parameters) as JSON under ``smplpix_train_state``.

Run folder layout: ``RUN/checkpoints/step_00001234.safetensors`` (the newest few are kept) and
``RUN/checkpoints/best.safetensors`` (best validation PSNR so far).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from smplpix_rt.errors import InputError, ModelFileError
from smplpix_rt.generator.fileio import atomic_target
from smplpix_rt.generator.manifest import METADATA_KEY, Manifest, manifest_from_metadata

STATE_KEY = "smplpix_train_state"
CHECKPOINT_DIR = "checkpoints"
BEST_NAME = "best.safetensors"
_OPT_PREFIX = "optimizer."


@dataclass(frozen=True)
class TrainProgress:
    """How far a run got.

    Attributes:
        step: optimizer steps taken.
        elapsed_s: training wall-clock seconds so far (over all resumed sessions).
        best_psnr: best validation PSNR in dB so far (``-inf`` before the first validation).
        best_step: step of ``best_psnr``.
    """

    step: int
    elapsed_s: float
    best_psnr: float = float("-inf")
    best_step: int = 0


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint.

    Attributes:
        path: the file.
        manifest: the generator manifest.
        weights: network state dict.
        optimizer: optimizer state dict (as ``torch.optim.Optimizer.state_dict()`` returns), or None.
        progress: run progress.
        config: the training configuration (JSON object) the run was started with.
    """

    path: Path
    manifest: Manifest
    weights: dict[str, torch.Tensor]
    optimizer: dict | None
    progress: TrainProgress
    config: dict


def step_path(run: Path, step: int) -> Path:
    """``RUN/checkpoints/step_<step>.safetensors``."""
    return Path(run) / CHECKPOINT_DIR / f"step_{step:08d}.safetensors"


def save_checkpoint(
    path: Path,
    net: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    manifest: Manifest,
    progress: TrainProgress,
    config: dict,
) -> Path:
    """Write a checkpoint atomically (see module docs)."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    groups = None
    if optimizer is not None:
        opt = optimizer.state_dict()
        for index, state in opt["state"].items():
            for name, value in state.items():
                value = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{_OPT_PREFIX}{index}.{name}"] = value.detach().cpu().contiguous().clone()
        groups = opt["param_groups"]
    state = {"progress": asdict(progress), "optimizer_param_groups": groups, "config": config}
    metadata = {METADATA_KEY: manifest.to_json(), STATE_KEY: json.dumps(state)}
    with atomic_target(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_checkpoint(path: Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        ModelFileError: unreadable file, or a generator file without training state.
    """
    from safetensors import safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except Exception as exc:
        raise ModelFileError(f"{path} is not a readable safetensors checkpoint ({exc})") from None
    manifest = manifest_from_metadata(metadata, str(path))
    if STATE_KEY not in metadata:
        raise ModelFileError(f"{path} holds a generator but no training state; it cannot be resumed")
    try:
        state = json.loads(metadata[STATE_KEY])
        progress = TrainProgress(**state["progress"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: training state is damaged ({exc})") from None
    weights = {k: v for k, v in tensors.items() if not k.startswith(_OPT_PREFIX)}
    optimizer = None
    if state.get("optimizer_param_groups") is not None:
        per_param: dict[int, dict] = {}
        for key, value in tensors.items():
            if key.startswith(_OPT_PREFIX):
                index, name = key[len(_OPT_PREFIX) :].split(".", 1)
                per_param.setdefault(int(index), {})[name] = value
        optimizer = {"state": per_param, "param_groups": state["optimizer_param_groups"]}
    return Checkpoint(path, manifest, weights, optimizer, progress, state.get("config", {}))


def list_checkpoints(run: Path) -> list[Path]:
    """Step checkpoints of a run, oldest first."""
    folder = Path(run) / CHECKPOINT_DIR
    return sorted(folder.glob("step_*.safetensors")) if folder.is_dir() else []


def latest_checkpoint(run: Path) -> Path:
    """The newest step checkpoint of a run.

    Raises:
        InputError: the run folder has no checkpoints.
    """
    found = list_checkpoints(run)
    if not found:
        raise InputError(f"{run} has no checkpoints ({CHECKPOINT_DIR}/step_*.safetensors); train it first")
    return found[-1]


def export_checkpoint(run: Path) -> Path:
    """The checkpoint to export from a run: the best by validation PSNR, else the newest.

    Raises:
        InputError: the folder does not exist or has no checkpoints.
    """
    run = Path(run)
    if not run.is_dir():
        raise InputError(f"run folder {run} does not exist")
    best = run / CHECKPOINT_DIR / BEST_NAME
    return best if best.is_file() else latest_checkpoint(run)


def prune_checkpoints(run: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` step checkpoints."""
    for path in list_checkpoints(run)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)


__all__ = [
    "STATE_KEY",
    "CHECKPOINT_DIR",
    "BEST_NAME",
    "TrainProgress",
    "Checkpoint",
    "step_path",
    "save_checkpoint",
    "load_checkpoint",
    "list_checkpoints",
    "latest_checkpoint",
    "export_checkpoint",
    "prune_checkpoints",
]
