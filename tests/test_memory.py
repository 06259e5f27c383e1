"""paso_local.store.memory: peak resident memory of this process and of its finished children, in MB (MiB).

Each figure is read after a known allocation (200 MB, every page touched) in a fresh process, so the window it
must fall in is narrow: KiB read as MB would be 1024x too large, bytes 1024^2x, a unit too many 1024x too small."""

from __future__ import annotations

import json
import subprocess
import sys

TOUCH_200_MB = "x = bytearray(200 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])"
INTERPRETER_MB = 800  # what a Python process holds beyond the 200 MB, with a wide margin


def test_a_childs_peak_is_seen_in_megabytes():
    """Measured from a small Python: this test process's children would also carry its own peak (see below)."""
    script = (
        "import json, subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {TOUCH_200_MB!r}], check=True)\n"
        "from paso_local.store.memory import children_peak_rss_mb\n"
        "print(json.dumps(children_peak_rss_mb()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert 200 <= json.loads(done.stdout) < 200 + INTERPRETER_MB


def test_a_process_peak_is_seen_in_megabytes_from_both_sources():
    """peak_rss_mb reads Linux's VmHWM (kB); elsewhere ru_maxrss (KiB on Linux, bytes on macOS): both checked."""
    script = (
        "import json, resource\n"
        f"{TOUCH_200_MB}\n"
        "from paso_local.store import memory\n"
        "print(json.dumps([memory.peak_rss_mb(), memory._maxrss_mb(resource.RUSAGE_SELF)]))"
    )
    # Linux carries ru_maxrss across exec from the forked parent: a child of this test process (which may hold
    # gigabytes of models by now) would report this process's peak. A grandchild forked by a small Python does not.
    via_small_parent = (
        f"import subprocess, sys\nsys.exit(subprocess.run([sys.executable, '-c', {script!r}]).returncode)"
    )
    done = subprocess.run(
        [sys.executable, "-c", via_small_parent], capture_output=True, text=True, check=True, timeout=120
    )
    peak, fallback = json.loads(done.stdout)
    assert 200 <= peak < 200 + INTERPRETER_MB
    assert 200 <= fallback < 200 + INTERPRETER_MB
