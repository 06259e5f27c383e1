"""Time and memory of `paso-local align` on the embedded SmolLM2: a first run (activations computed) and
a second profile on the same model (activations from the cache).
Targets: first <= 90 s, cached <= 30 s, peak RSS <= 1.5 GB.

    .venv/bin/python benchmarks/align_time_memory.py [--data ../shared/data/papi_dev.json] [--subjects 0 1]

Each run is a separate `paso-local` process in a fresh PASO_LOCAL_HOME; its wall time is measured here and its
peak RSS read from the child's rusage (and from the JSON report).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paso_local.store.memory import children_peak_rss_mb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "papi_dev.json"
TARGETS = {"first_s": 90.0, "cached_s": 30.0, "peak_rss_mb": 1536.0}


def paso(home: Path, *args: str) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, stdout) of one `paso-local` process. The peak is the largest of this process's
    children so far (getrusage keeps no per-child figure): this child's when it is the largest."""
    env = dict(os.environ, PASO_LOCAL_HOME=str(home))
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "paso_local", *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"paso-local {' '.join(args)} failed:\n{proc.stderr}")
    return seconds, children_peak_rss_mb(), proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--subjects", type=int, nargs=2, default=(0, 1), metavar=("FIRST", "SECOND"))
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="paso-bench-") as tmp:
        home = Path(tmp)
        for label, index in zip(("first", "cached"), args.subjects, strict=False):
            name = f"bench{index}"
            paso(home, "onboard", "--profile", name, "--import", str(args.data), "--index", str(index))
            seconds, rss, stdout = paso(home, "align", "--profile", name, "--json", "-")
            report = json.loads(stdout)
            results[label] = {
                "seconds": round(seconds, 1),
                "align_seconds": report["seconds"],
                "activation_seconds": report["activation_seconds"],
                "activation_cache_hit": report["activation_cache_hit"],
                "peak_rss_mb_rusage": round(rss, 1),
                "peak_rss_mb_report": report["peak_rss_mb"],
                "strength": report["strength"],
                "cv_aligned_score": report["cv_aligned_score"],
            }
            print(f"{label}: {json.dumps(results[label])}", flush=True)
    summary = {
        "first_s": results["first"]["seconds"],
        "cached_s": results["cached"]["seconds"],
        "peak_rss_mb": max(r["peak_rss_mb_rusage"] for r in results.values()),
    }
    verdict = {k: ("ok" if summary[k] <= TARGETS[k] else "over") for k in TARGETS}
    print(
        json.dumps(
            {"summary": summary, "targets": TARGETS, "verdict": verdict, "cpus": os.cpu_count()}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
