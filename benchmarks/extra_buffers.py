"""Whether llama.cpp's repacked CPU weight layouts (`use_extra_bufts`, PASO_LOCAL_EXTRA_BUFFERS=1) speed up
the prompt evaluation align and eval spend their time in, and whether they change the answers: per model, the
120-form items' prompt evaluation speed unsteered and under a vector, peak memory, and parity of the
five-option distributions with the default load (top-1 option, median answer, KL).

    .venv/bin/python benchmarks/extra_buffers.py [--model PATH ...] [--threads 2] [--items 40]

Each load runs in its own process (a clean peak RSS), each pass twice, keeping the faster. Run it on an idle
machine: the speeds are compared as ratios within one run. Do not run it on a CPU with AMX: there llama.cpp's
extra buffers crashed on the machine paso-local was first developed on.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from requantize_choice import CHILD, kl

from paso_local.llm.readout import argmax_answer, median_answer
from paso_local.llm.runtime import EXTRA_BUFFERS_ENV


def score_in_child(model: Path, out: str, threads: int, items: int, extra: bool) -> dict:
    env = {**os.environ, EXTRA_BUFFERS_ENV: "1" if extra else "0"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model), out, str(threads), str(items)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-300:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(model: Path, threads: int, items: int, tmp: str) -> list[dict]:
    rows, reference = [], None
    for extra in (False, True):
        out = str(Path(tmp) / f"{model.stem}-{int(extra)}")
        result = score_in_child(model, out, threads, items, extra)
        row = {"model": model.name, "extra_buffers": extra}
        if "error" in result:
            rows.append({**row, **result})
            continue
        dists = {k: np.load(f"{out}.{k}.npy") for k in ("unsteered", "steered")}
        reference = reference or dists
        row["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
        for label, dist in dists.items():
            ref = reference[label]
            row[f"{label}_tok_per_s"] = round(result["timings"][label]["tok_per_s"], 1)
            row[f"{label}_top1"] = float(np.mean(argmax_answer(dist) == argmax_answer(ref)))
            row[f"{label}_median"] = float(np.mean(median_answer(dist) == median_answer(ref)))
            row[f"{label}_kl_max"] = float(np.max(kl(ref, dist)))
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", nargs="+", default=[None], help="GGUF files (default: the embedded model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--items", type=int, default=40, help="the first N items of the 120 form")
    args = parser.parse_args()
    from paso_local.llm.modelfiles import resolve_model

    with tempfile.TemporaryDirectory(prefix="paso-extra-bufts-") as tmp:
        for name in args.model:
            for row in compare(resolve_model(name), args.threads, args.items, tmp):
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
