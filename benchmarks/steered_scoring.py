"""Per-item steered scoring: llama.cpp (batched sequences, and one item per decode) against the torch path.

The same items (the first --items of the 120 form) and the same vector (dev subject --subject's PAS vector,
letter contrast, fit on those items' answers, at --strength in align's units) are scored four ways: llama.cpp with
up to 16 items per llama_decode, llama.cpp one item per decode, torch bfloat16 steered passes (what align
used before) and torch float32. Rounds alternate the ways, so a busy machine slows all of them alike; the
median of the rounds is reported as seconds per item and as a ratio to llama.cpp batched, with how far each
way's option distributions and median answers are from llama.cpp's one-item-per-decode (the chat's path).

Usage: .venv/bin/python benchmarks/steered_scoring.py [--model PATH] [--items 40] [--rounds 3] [--threads 2]
       [--strength 0.5] [--subject 0] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from paso_local.converters.align_inputs import (
    DEFAULT_HEADS,
    PLACEMENT_SHIFT,
    WoCache,
    first_eligible_layer,
    lazy_torch_model,
    letter_activations,
    load_torch_model,
)
from paso_local.converters.gguf_reader import read_config
from paso_local.converters.pas import fit_pas, person_labels
from paso_local.converters.strength import steered_distributions, to_unit
from paso_local.llm.chat_format import ChatFormat
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.readout import OptionTokens, median_answer
from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
from paso_local.person.inventory import form_items
from paso_local.person.subjects import load_subjects

SUBJECTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papi_dev.json"


def subject_vector(args, model_path: Path, items, reference) -> tuple[dict, object]:
    """Dev subject --subject's letter-contrast PAS vector, fit on these items' answers, at --strength (align's
    units); with the activations it was read from."""
    config = read_config(model_path)
    acts, _ = letter_activations(model_path, items, config.n_layer, reference, show=True)
    answers = {
        n: a for n, a in load_subjects(Path(args.subjects))[args.subject].answers.items() if 1 <= a <= 5
    }
    labels = person_labels(answers, [int(n) for n in acts.item_numbers])
    fit = fit_pas(
        acts.agree,
        acts.disagree,
        labels,
        DEFAULT_HEADS,
        WoCache(reference),
        first_eligible_layer(config.n_layer),
    )
    unit = to_unit(fit.placed(PLACEMENT_SHIFT), acts.residual_norm)
    return {b: v * np.float32(args.strength) for b, v in unit.items()}, acts


def timed_ways(ways: dict, rounds: int) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Seconds per round and the last distributions of each way; rounds alternate the ways."""
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    dists: dict[str, np.ndarray] = {}
    for _ in range(rounds):
        for name, way in ways.items():
            started = time.perf_counter()
            dists[name] = way()
            seconds[name].append(time.perf_counter() - started)
    return seconds, dists


def compared_rows(seconds: dict[str, list[float]], dists: dict[str, np.ndarray], n_items: int) -> list[dict]:
    reference = dists["llama.cpp, 1 item per decode"]
    fastest = statistics.median(seconds["llama.cpp, 16 items per decode"])
    rows_out = []
    for name in seconds:
        median = statistics.median(seconds[name])
        rows_out.append(
            {
                "way": name,
                "seconds_per_item": round(median / n_items, 4),
                "time_vs_llama_batched": round(median / fastest, 3),
                "max_abs_dist_diff": float(np.abs(dists[name] - reference).max()),
                "median_answers_differing": int(
                    (median_answer(dists[name]) != median_answer(reference)).sum()
                ),
            }
        )
    return rows_out


def print_rows(summary: dict) -> None:
    print(
        f"{summary['model']}: {summary['items']} items, strength {summary['strength']}, "
        f"{summary['threads']} threads, median of {summary['rounds']} rounds; differences against llama.cpp "
        "one item per decode"
    )
    print(f"{'way':34} {'s/item':>8} {'x batched':>10} {'max |dp|':>9} {'answers differ':>15}")
    for r in summary["ways"]:
        print(
            f"{r['way']:34} {r['seconds_per_item']:8.4f} {r['time_vs_llama_batched']:10.3f} "
            f"{r['max_abs_dist_diff']:9.5f} {r['median_answers_differing']:15d}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model")
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--subject", type=int, default=0)
    parser.add_argument("--subjects", default=str(SUBJECTS))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_path = resolve_model(args.model)
    items = form_items("120")[: args.items]  # activations (and the vector's fit) for these items only
    tokens = OptionTokens.from_chat_format(ChatFormat.from_model(model_path))
    bf16 = lazy_torch_model(model_path, torch.bfloat16)
    # the activation cache's own dtype (paso_local.converters.model.fast_dtype)
    reference = lazy_torch_model(model_path)
    vector, acts = subject_vector(args, model_path, items, reference)
    rows = np.arange(min(args.items, len(items)))
    asked = [items[r] for r in rows]

    runtime = open_scoring_runtime(model_path, threads=args.threads, sequences=16)
    batched, single = SteeredScorer(runtime), SteeredScorer(runtime, per_batch=1)
    f32 = load_torch_model(model_path, torch.float32)
    ways = {
        "llama.cpp, 16 items per decode": lambda: batched.score(asked, vector).dist,
        "llama.cpp, 1 item per decode": lambda: single.score(asked, vector).dist,
        "torch bfloat16": lambda: steered_distributions(bf16(), acts, rows, vector, tokens)[0],
        "torch float32": lambda: steered_distributions(f32, acts, rows, vector, tokens)[0],
    }
    seconds, dists = timed_ways(ways, args.rounds)
    runtime.close()
    summary = {
        "model": model_path.name,
        "items": len(rows),
        "strength": args.strength,
        "threads": args.threads,
        "rounds": args.rounds,
        "ways": compared_rows(seconds, dists, len(rows)),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_rows(summary)


if __name__ == "__main__":
    main()
