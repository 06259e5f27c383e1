"""Several questionnaire items per llama_decode against one per decode (align's default), with llama.cpp's KV
cache unified (every token attends, masked, to every sequence's cells) or split into one stream per sequence.

    .venv/bin/python benchmarks/kv_streams.py [--model PATH] [--threads 2] [--rounds 2]
        [--configs 1 8 16 8u]

The 120 items under one random vector. Each round runs every configuration once, in the order given (the
machine's speed drifts within minutes, so each configuration is read against the same round's one item per
decode): seconds per round, the median of the paired ratios, the largest change of an option probability and the
share of median answers unchanged. A configuration is a number of items per decode, "u" for a unified cache.
Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.readout import median_answer
from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
from paso_local.person.inventory import form_items


def timed(model, threads: int, sequences: int, unified: bool) -> tuple[float, np.ndarray]:
    """One pass over the 120 items in a freshly opened runtime: seconds and the option distributions."""
    items = list(form_items("120"))
    with open_scoring_runtime(
        model, threads=threads, n_ctx=4096, sequences=sequences, kv_unified=unified
    ) as runtime:
        scorer = SteeredScorer(runtime)
        rng = np.random.default_rng(0)
        vector = {
            b: (rng.standard_normal(runtime.info.n_embd) * 0.05).astype(np.float32) for b in range(10, 20)
        }
        started = time.perf_counter()
        found = scorer.score(items, vector)
        return time.perf_counter() - started, found.dist


def parsed_config(text: str) -> tuple[int, bool]:
    """ "16" -> (16 items per decode, a KV stream each); "8u" -> (8, unified)."""
    return int(text.rstrip("u")), text.endswith("u")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--configs", nargs="+", default=["1", "8", "16", "8u"])
    args = parser.parse_args()
    model = resolve_model(args.model)
    configs = ["1"] + [c for c in args.configs if c != "1"]
    seconds: dict[str, list[float]] = {c: [] for c in configs}
    dists: dict[str, np.ndarray] = {}
    for round_ in range(args.rounds):
        for config in configs:
            sequences, unified = parsed_config(config)
            took, dists[config] = timed(model, args.threads, sequences, unified)
            seconds[config].append(took)
            print(f"round {round_ + 1}, {config}: {took:.2f} s", flush=True)
    reference = dists["1"]
    print(f"one item per decode: {' '.join(f'{s:.2f}' for s in seconds['1'])} s")
    for config in configs[1:]:
        sequences, unified = parsed_config(config)
        ratios = [one / s for one, s in zip(seconds["1"], seconds[config], strict=True)]
        print(
            f"{sequences} items per decode, KV {'unified' if unified else 'one stream each'}: "
            f"{' '.join(f'{s:.2f}' for s in seconds[config])} s, paired {statistics.median(ratios):.2f}x "
            f"({min(ratios):.2f}-{max(ratios):.2f}), largest probability change "
            f"{np.abs(dists[config] - reference).max():.4f}, medians unchanged "
            f"{np.mean(median_answer(dists[config]) == median_answer(reference)):.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
