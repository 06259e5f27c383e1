"""paso_local.store.memory: peak resident memory of this process and of its finished children, in MB."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from paso_local.store.memory import children_peak_rss_mb, peak_rss_mb


def test_a_childs_peak_is_seen_in_megabytes():
    # 200 MB touched in the child: its peak RSS must show at least that, not KiB or bytes read as MB
    subprocess.run([sys.executable, "-c", "x = bytearray(200 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"],
                   check=True)  # fmt: skip
    assert 200 <= children_peak_rss_mb() < 4096


def test_this_process_peak_is_in_megabytes():
    peak = peak_rss_mb()
    assert 10 <= peak < 64 * 1024
    status = Path("/proc/self/status")
    if status.exists():  # Linux: the kernel's own high-water mark, in kB; KiB read as MB would be 1024x off
        kib = next(
            int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM")
        )
        assert abs(peak - kib / 1024) <= 0.1 * kib / 1024 + 2
