"""Process memory figures for the Render panel and the automation report."""

from __future__ import annotations

import os
import sys


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def gpu_memory(device: str) -> str:
    """One line about GPU memory for a runtime on ``device`` (``"cpu"`` or ``"cuda:N"``)."""
    if not device.startswith("cuda"):
        return "not used (CPU backend)"
    index = int(device.partition(":")[2] or 0)
    try:
        from cuda.bindings import runtime as cudart

        cudart.cudaSetDevice(index)
        err, free, total = cudart.cudaMemGetInfo()
        if int(err) == 0:
            return f"{(total - free) / 2**20:.0f} / {total / 2**20:.0f} MiB in use on {device}"
    except Exception:  # no cuda-bindings or no driver: fall through to torch, then give up
        pass
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(index)
        return f"{(total - free) / 2**20:.0f} / {total / 2**20:.0f} MiB in use on {device}"
    return f"unknown ({device})"


__all__ = ["gpu_memory", "rss_mb"]
