"""A private Xvfb display for windowed runs on machines without a screen (benchmarks, tests)."""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator

from smplpix_rt.errors import SmplpixError


@contextlib.contextmanager
def virtual_display(width: int = 1280, height: int = 800, timeout: float = 20.0) -> Iterator[str]:
    """Start Xvfb on a free display number; yields its name (``":N"``) and stops the server on exit.

    Xvfb picks the number itself (``-displayfd``) and reports it once it accepts clients, so two
    callers never race for one number, and a display held by a server this machine cannot see in
    ``/tmp`` (another container on the same network namespace) is skipped.

    Raises:
        SmplpixError: Xvfb is not installed or did not start in ``timeout`` seconds.
    """
    if not shutil.which("Xvfb"):
        raise SmplpixError("no display and no Xvfb to make one: install xvfb (apt-get install xvfb xauth)")
    read_end, write_end = os.pipe()
    try:
        server = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write_end), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
        )
    finally:
        os.close(write_end)
    try:
        number = _read_display_number(read_end, server, time.monotonic() + timeout)
        yield f":{number}"
    finally:
        os.close(read_end)
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()


def _read_display_number(fd: int, server: subprocess.Popen, deadline: float) -> int:
    """The display number Xvfb writes to ``fd`` (one line) when it is ready."""
    text = b""
    while not text.endswith(b"\n"):
        if server.poll() is not None or time.monotonic() > deadline:
            raise SmplpixError("Xvfb did not start")
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:  # the server closed its end without a number
                raise SmplpixError("Xvfb did not start")
            text += chunk
    return int(text.strip())


__all__ = ["virtual_display"]
