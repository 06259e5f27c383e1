"""This process's peak resident memory, for the reports of align, check-model, eval and the benchmarks."""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """Peak resident memory in MB since the last reset (Linux VmHWM), else since the process started
    (ru_maxrss: KiB on Linux, bytes on macOS)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _maxrss_mb(resource.RUSAGE_SELF)


def children_peak_rss_mb() -> float:
    """The largest peak resident memory in MB of this process's finished children (benchmarks time commands)."""
    return _maxrss_mb(resource.RUSAGE_CHILDREN)


def _maxrss_mb(who: int) -> float:
    peak = resource.getrusage(who).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def available_memory_bytes() -> int | None:
    """Memory a new allocation can have without swapping: Linux MemAvailable, else the physical memory
    (sysconf); None where neither is known."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
