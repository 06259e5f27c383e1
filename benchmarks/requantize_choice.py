"""The types worth re-quantising the embedded model into (paso_local.llm.kernel_choice times F16, BF16 and F32 on
first use and keeps the fastest): per type, the time
to make the copy, prompt evaluation speed on the 120 questionnaire items (unsteered and under a vector), peak
memory, and parity with the shipped Q4_1's answers (top-1 option, median answer, KL of the five-option
distribution).

    .venv/bin/python benchmarks/requantize_choice.py [--model PATH] [--types F16 Q8_0 Q4_K_M Q4_0] [--threads 2] [--items 120]

Each type is scored in its own process (a clean peak RSS), twice, keeping the faster pass. Run it on an idle
machine: the speeds are compared as ratios within one run.
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

import numpy as np

from paso_local.llm.readout import argmax_answer, median_answer

CHILD = r"""
import json, sys, time
import numpy as np
from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
from paso_local.person.inventory import form_items
from paso_local.store.memory import peak_rss_mb
path, out, threads, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
items = list(form_items("120"))[:count]
runtime = open_scoring_runtime(path, threads=threads)
scorer = SteeredScorer(runtime)
n_embd = runtime.info.n_embd
rng = np.random.default_rng(0)
vector = {b: (rng.standard_normal(n_embd) * 0.05).astype(np.float32) for b in range(10, 20)}
timings = {}
for label, directions in (("unsteered", None), ("steered", vector)):
    best = float("inf")
    for _ in range(2):
        before = runtime.tokens_decoded
        started = time.perf_counter()
        found = scorer.score(items, directions)
        best = min(best, time.perf_counter() - started)
        tokens = runtime.tokens_decoded - before
    timings[label] = {"seconds": best, "tokens": tokens, "tok_per_s": tokens / best}
    np.save(f"{out}.{label}.npy", found.dist)
print(json.dumps({"timings": timings, "peak_rss_mb": peak_rss_mb()}))
"""


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    p, q = np.clip(p, 1e-12, 1), np.clip(q, 1e-12, 1)
    return np.sum(p * np.log(p / q), axis=1)


def score_in_child(
    path: Path, out: str, threads: int, items: int, env: dict | None = None
) -> tuple[dict, dict[str, np.ndarray]]:
    """CHILD run on `path` in its own process: its timings and peak RSS, and the five-option distributions
    (unsteered, steered) it saved under `out`. llama.cpp loads `path` itself, never the embedded model's
    fast copy (which `Runtime.open` would otherwise load in its place)."""
    from paso_local.llm.kernel_choice import FAST_EMBEDDED_ENV

    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), out, str(threads), str(items)],
        capture_output=True,
        text=True,
        check=True,
        env={**(os.environ if env is None else env), FAST_EMBEDDED_ENV: "0"},
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, {k: np.load(f"{out}.{k}.npy") for k in ("unsteered", "steered")}


def parity_fields(result: dict, dists: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> dict:
    """Per pass: tokens/s, and the share of items whose top-1 option and median answer match `reference`'s,
    with the KL of the distributions from it (mean and max)."""
    row = {}
    for label, dist in dists.items():
        ref = reference[label]
        row[f"{label}_tok_per_s"] = round(result["timings"][label]["tok_per_s"], 1)
        row[f"{label}_top1"] = float(np.mean(argmax_answer(dist) == argmax_answer(ref)))
        row[f"{label}_median"] = float(np.mean(median_answer(dist) == median_answer(ref)))
        row[f"{label}_kl_mean"] = float(np.mean(kl(ref, dist)))
        row[f"{label}_kl_max"] = float(np.max(kl(ref, dist)))
    return row


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--types", nargs="+", default=["F16", "Q8_0", "Q4_K_M", "Q4_0"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--items", type=int, default=120, help="the first N items of the 120 form")
    args = parser.parse_args()
    from paso_local.llm.modelfiles import resolve_model
    from paso_local.llm.requantize import quantize_file

    source = resolve_model(args.model)
    rows = []
    with tempfile.TemporaryDirectory(prefix="paso-requant-") as tmp:
        files = {"source": source}
        for name in args.types:
            target = Path(tmp) / f"{name}.gguf"
            started = time.perf_counter()
            quantize_file(source, target, name, args.threads)
            files[name] = (target, time.perf_counter() - started)
        reference = None
        for name, entry in files.items():
            path, made = (entry, 0.0) if name == "source" else entry
            out = str(Path(tmp) / name)
            result, dists = score_in_child(path, out, args.threads, args.items)
            reference = reference or dists
            row = {
                "type": "source (shipped)" if name == "source" else name,
                "copy_seconds": round(made, 2),
                "file_mb": round(Path(path).stat().st_size / 2**20, 1),
                "peak_rss_mb": round(result["peak_rss_mb"], 1),
            }
            row.update(parity_fields(result, dists, reference))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
