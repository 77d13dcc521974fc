"""Distributed training through torchrun: 2 CPU processes on the gloo backend."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from dataset_fixtures import smplpix_dataset

REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_cpu_processes(tmp_path):
    data = smplpix_dataset(tmp_path / "data")
    run = tmp_path / "run"
    # Loopback only, by address: minimal containers may not resolve "localhost" or the host name.
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": "lo"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nnodes",
        "1",
        "--node-rank",
        "0",
        "--master-addr",
        "127.0.0.1",
        "--master-port",
        str(_free_port()),
        "--local-addr",
        "127.0.0.1",
        "--nproc_per_node",
        "2",
        "-m",
        "smplpix_rt.cli.main",
        "train",
        "--data",
        str(data),
        "--out",
        str(run),
        "--steps",
        "4",
        "--batch-size",
        "2",
        "--val-every",
        "2",
        "--checkpoint-every",
        "2",
        "--arch-param",
        "depth=3",
        "--filters",
        "8",
        "--precision",
        "fp32",
        "--threads",
        "1",
        "--no-tensorboard",
    ]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    described = json.loads((run / "config.json").read_text())
    assert described["world_size"] == 2
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["best.safetensors", "step_00000002.safetensors", "step_00000004.safetensors"]
    steps = [
        row["step"] for row in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if "val/psnr" in row
    ]
    assert steps == [2, 4]
    assert "trained 4 steps" in done.stdout  # printed once, by rank 0
    assert done.stdout.count("trained 4 steps") == 1
