"""Host (CPU) facts and settings the runtimes depend on."""

from __future__ import annotations

import ctypes
import functools
import sys
from pathlib import Path

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.lru_cache(maxsize=1)
def tune_host_allocator() -> bool:
    """Keep large per-frame buffers on the heap instead of fresh ``mmap`` pages (glibc only).

    By default glibc serves every allocation above ~128 KiB-32 MiB with a new ``mmap`` and
    returns it on free, so each frame's activations and images are page-faulted and zeroed again.
    On the 2-core machines this project targets that made concatenations and copies 5-40× slower
    (a (1, 64, 128, 128) float32 ``torch.cat``: 7-13 ms → 0.3-0.6 ms). Raising the mmap and trim
    thresholds lets freed blocks be reused. The setting is process-wide and harmless to other
    code; it only means the heap keeps its peak size. Called by the CPU runtimes; idempotent.

    Returns:
        True if the thresholds were changed (Linux with glibc), False otherwise.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # musl or another C library
        return False
    mmap_ok = libc.mallopt(_M_MMAP_THRESHOLD, 512 * 1024 * 1024) or libc.mallopt(_M_MMAP_THRESHOLD, 32 * 1024 * 1024)
    trim_ok = libc.mallopt(_M_TRIM_THRESHOLD, 1024 * 1024 * 1024)
    return bool(mmap_ok and trim_ok)


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """CPU feature flags from ``/proc/cpuinfo`` (empty where that file does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_fast_bf16() -> bool:
    """True if this CPU computes bfloat16 natively (AMX-BF16 or AVX512-BF16).

    Without them PyTorch emulates bf16 and it is slower than fp32.
    """
    flags = cpu_flags()
    if flags:
        return bool({"amx_bf16", "avx512_bf16"} & flags)
    import torch

    capability = torch.backends.cpu.get_cpu_capability().upper()
    return "AMX" in capability or "BF16" in capability
