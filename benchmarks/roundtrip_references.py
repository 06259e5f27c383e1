"""References for assess's judge-free round trip, with no language model: for the statements an `assess` run
asked (read from its checkpoint directory), the share of answers on the person's side and the mean absolute
error of answering C, the population's mean answer (leave-one-out, rounded) and the trait model, beside the
round trip of every method in the run. The subjects file is read in chosen options.

    .venv/bin/python benchmarks/roundtrip_references.py CHECKPOINT_DIR --subjects ../shared/data/papi_dev.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from paso_local.evaluation.references import answer_c, loo_mean, trait_model
from paso_local.evaluation.split import held_out_numbers, split_subject
from paso_local.llm.readout import median_answer
from paso_local.person.subjects import load_subjects


def on_persons_side(predicted: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.sign(predicted - 3) == np.sign(target - 3)


def rows_by_method(checkpoints: list[dict]) -> dict[str, list[tuple[int, int, int]]]:
    """Per method: (subject index, statement number, round-trip median) of every statement asked."""
    rows: dict[str, list[tuple[int, int, int]]] = {}
    for subject in checkpoints:
        for method, result in subject["methods"].items():
            for asked in result["items"]:
                if asked.get("roundtrip"):
                    median = int(median_answer(np.array([asked["roundtrip"]["dist"]]))[0])
                    rows.setdefault(method, []).append((subject["index"], asked["number"], median))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("checkpoints", type=Path, help="assess's --out directory")
    parser.add_argument("--subjects", type=Path, required=True)
    parser.add_argument("--orientation", default="keyed")
    args = parser.parse_args()
    subjects = [split_subject(s) for s in load_subjects(args.subjects, orientation=args.orientation)]
    checkpoints = [json.loads(p.read_text()) for p in sorted(args.checkpoints.glob("subject-*.json"))]
    rows = rows_by_method(checkpoints)
    if not rows:
        raise SystemExit(
            f"{args.checkpoints}: no assess checkpoints with round trips (subject-*.json); give assess's --out"
        )
    column = {n: c for c, n in enumerate(held_out_numbers())}
    pool = np.array([s.held_out_vector() for s in subjects])
    indices = sorted({c["index"] for c in checkpoints})
    references = {
        "answer C (no model)": answer_c(len(subjects)),
        "population mean, rounded (no model)": np.floor(loo_mean(pool, range(len(subjects))) + 0.5),
        "trait model (no model)": trait_model(subjects),
    }
    asked = next(iter(rows.values()))
    for name, table in references.items():
        rows[name] = [(i, n, int(table[i, column[n]])) for i, n, _ in asked]
    print(f"{len(indices)} subjects, {len(asked)} statements")
    for name, found in rows.items():
        predicted = np.array([p for _, _, p in found], dtype=float)
        target = np.array([subjects[i].held_out[n] for i, n, _ in found], dtype=float)
        counts = np.bincount(predicted.astype(int), minlength=6)[1:]
        print(
            f"{name:38s} on the person's side {on_persons_side(predicted, target).mean():.3f}  "
            f"mean abs error {np.abs(predicted - target).mean():.3f}  answers 1..5 {' / '.join(map(str, counts))}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
