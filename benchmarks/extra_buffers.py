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

from requantize_choice import parity_fields, score_in_child

from paso_local.llm.runtime import EXTRA_BUFFERS_ENV


def compare(model: Path, threads: int, items: int, tmp: str) -> list[dict]:
    rows, reference = [], None
    for extra in (False, True):
        out = str(Path(tmp) / f"{model.stem}-{int(extra)}")
        env = {**os.environ, EXTRA_BUFFERS_ENV: "1" if extra else "0"}
        row = {"model": model.name, "extra_buffers": extra}
        try:
            result, dists = score_in_child(model, out, threads, items, env)
        except subprocess.CalledProcessError as failed:  # a crash (AMX) is a result, not the end of the run
            rows.append({**row, "error": f"exit {failed.returncode}: {failed.stderr.strip()[-300:]}"})
            continue
        reference = reference or dists
        row["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
        rows.append({**row, **parity_fields(result, dists, reference)})
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
