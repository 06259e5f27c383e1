"""Several questionnaire items per llama_decode against one per decode (align's default), with llama.cpp's KV
cache unified (every token attends, masked, to every sequence's cells) or split into one stream per sequence.

    .venv/bin/python benchmarks/kv_streams.py [--model PATH] [--threads 2]

The 120 items under one random vector, twice per configuration (the faster pass kept): seconds, the ratio to
one item per decode, the largest change of an option probability and the share of median answers unchanged.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.readout import median_answer
from paso_local.llm.runtime import Runtime
from paso_local.llm.steered_scoring import SteeredScorer
from paso_local.person.inventory import form_items


def timed(model, threads: int, sequences: int, unified: bool) -> tuple[float, np.ndarray]:
    items = list(form_items("120"))
    with Runtime.open(
        model,
        n_ctx=4096,
        n_threads=threads,
        n_seq_max=sequences,
        n_batch=max(512, 128 * sequences),
        kv_unified=unified,
    ) as runtime:
        scorer = SteeredScorer(runtime)
        rng = np.random.default_rng(0)
        vector = {
            b: (rng.standard_normal(runtime.info.n_embd) * 0.05).astype(np.float32) for b in range(10, 20)
        }
        best, found = float("inf"), None
        for _ in range(2):
            started = time.perf_counter()
            found = scorer.score(items, vector)
            best = min(best, time.perf_counter() - started)
    return best, found.dist


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    model = resolve_model(args.model)
    one, reference = timed(model, args.threads, 1, True)
    print(f"one item per decode: {one:.2f} s")
    for sequences, unified in ((9, False), (17, False), (9, True)):
        seconds, dist = timed(model, args.threads, sequences, unified)
        print(
            f"{sequences - 1} items per decode, KV {'unified' if unified else 'one stream each'}: {seconds:.2f} s, "
            f"{one / seconds:.2f}x, largest probability change {np.abs(dist - reference).max():.4f}, "
            f"medians unchanged {np.mean(median_answer(dist) == median_answer(reference)):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
