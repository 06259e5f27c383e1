"""llama.cpp's flash attention on and off (paso-local keeps it off): the questionnaire items under a random vector,
each setting loaded once and asked three times, interleaved, in one process; per setting the best and median
seconds, and against off the share of median answers unchanged and the largest change of an option probability.

    .venv/bin/python benchmarks/flash_attention.py [--model PATH] [--items 120] [--threads 2]

Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from paso_local.llm import runtime as runtime_module
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.runtime import Runtime
from paso_local.llm.steered_scoring import SteeredScorer
from paso_local.person.inventory import form_items

ROUNDS = 3


def opened(model, threads: int, flash: bool) -> Runtime:
    saved = runtime_module.FLASH_ATTENTION
    runtime_module.FLASH_ATTENTION = flash
    try:
        return Runtime.open(model, n_ctx=4096, n_threads=threads)
    finally:
        runtime_module.FLASH_ATTENTION = saved


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    items = list(form_items("120"))[: args.items]
    runtimes = {flash: opened(resolve_model(args.model), args.threads, flash) for flash in (False, True)}
    rng = np.random.default_rng(0)
    n_embd, n_layer = runtimes[False].info.n_embd, runtimes[False].info.n_layer
    vector = {b: (rng.standard_normal(n_embd) * 0.05).astype(np.float32) for b in range(5, n_layer - 5)}
    seconds: dict[bool, list[float]] = {False: [], True: []}
    found = {}
    for _ in range(ROUNDS):
        for flash, runtime in runtimes.items():
            started = time.perf_counter()
            found[flash] = SteeredScorer(runtime).score(items, vector)
            seconds[flash].append(time.perf_counter() - started)
    print(f"{runtimes[False].info.name}, {len(items)} items under a random vector, {args.threads} threads\n")
    print("| flash attention | best | median | median answers as off | largest probability change |")
    print("|---|---:|---:|---:|---:|")
    for flash in (False, True):
        same = float(np.mean(found[flash].median == found[False].median))
        moved = float(np.abs(found[flash].dist - found[False].dist).max())
        times = sorted(seconds[flash])
        label = "on" if flash else "off"
        print(f"| {label} | {times[0]:.2f} s | {times[len(times) // 2]:.2f} s | {same:.1%} | {moved:.4f} |")
    for runtime in runtimes.values():
        runtime.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
