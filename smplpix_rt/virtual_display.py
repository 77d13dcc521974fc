"""A private Xvfb display for windowed runs on machines without a screen (benchmarks, tests)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from smplpix_rt.errors import SmplpixError


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800, timeout: float = 20.0) -> Iterator[str]:
    """Start Xvfb on a free display number; yields its name (``":N"``) and stops the server on exit.

    Raises:
        SmplpixError: Xvfb is not installed or did not start in ``timeout`` seconds.
    """
    if not shutil.which("Xvfb"):
        raise SmplpixError("no display and no Xvfb to make one: install xvfb (apt-get install xvfb xauth)")
    number = next(
        n
        for n in range(150, 400)
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
    )
    server = subprocess.Popen(
        ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while not Path(f"/tmp/.X11-unix/X{number}").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SmplpixError(f"Xvfb :{number} did not start")
            time.sleep(0.05)
        yield f":{number}"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


__all__ = ["virtual_display"]
