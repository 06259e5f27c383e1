"""Fit the synthetic respondent model (paso_local.person.synthetic) and validate it against the real people.

    .venv/bin/python benchmarks/synthetic_respondents.py --fit     # writes paso_local/data/synthetic_respondents.json
    .venv/bin/python benchmarks/synthetic_respondents.py           # validates the shipped parameters

Fitted on the 120-form answers of ../shared/data/papi_dev.json in chosen space; the 180 other items are never
read. Validation compares the 60 real people with synthetic samples of 60 (several seeds, mean and spread):
- item means and standard deviations;
- per domain, the correlation across people of the +keyed items' mean with the -keyed items' mean (negative
  in chosen space);
- a split within the 120 form (the first two items of each facet known, the other two hidden): the summed
  Aligned Score of the population mean (leave-one-out), the trait model (the known items' facet score keyed
  back) and ridge (known -> hidden, fitted on the other people).
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

from paso_local.evaluation.references import loo_mean, ridge_predict
from paso_local.person.aligned_score import aligned_score
from paso_local.person.inventory import DOMAINS, form_items
from paso_local.person.subjects import load_subjects
from paso_local.person.synthetic import DATA_FILE, RespondentModel, fit, shipped_model

SEEDS = range(10)
PACKAGE = Path(__file__).resolve().parents[1] / "paso_local"


def real_answers(path: Path) -> np.ndarray:
    numbers = [i.number for i in form_items("120")]
    return np.array([[s.answers[n] for n in numbers] for s in load_subjects(path, orientation="keyed")])


def split_columns() -> tuple[np.ndarray, np.ndarray]:
    """Indices of the known (first two of each facet, 120-form order) and hidden items."""
    seen: dict[str, int] = {}
    known = []
    for it in form_items("120"):
        seen[it.facet] = seen.get(it.facet, 0) + 1
        known.append(seen[it.facet] <= 2)
    known_mask = np.array(known)
    return np.flatnonzero(known_mask), np.flatnonzero(~known_mask)


def aligned_sum(predicted: np.ndarray, truth: np.ndarray, columns: np.ndarray) -> float:
    """Mean over people of the paper's Aligned Score on `columns` (missing truths skipped)."""
    items = [form_items("120")[c] for c in columns]
    numbers = [i.number for i in items]
    return float(
        np.mean(
            [
                aligned_score(
                    dict(zip(numbers, p, strict=True)), dict(zip(numbers, t, strict=True)), items
                ).total
                for p, t in zip(predicted, truth, strict=True)
            ]
        )
    )


def trait_predictions(answers: np.ndarray, known: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    items = form_items("120")
    keyed = np.where([i.plus_keyed for i in items], answers, np.where(answers > 0, 6 - answers, 0)).astype(
        float
    )
    out = np.zeros((len(answers), len(hidden)))
    for j, h in enumerate(hidden):
        same = [k for k in known if items[k].facet == items[h].facet]
        values = np.where(keyed[:, same] > 0, keyed[:, same], np.nan)
        score = np.nan_to_num(np.nanmean(values, axis=1), nan=3.0)
        out[:, j] = score if items[h].plus_keyed else 6 - score
    return np.floor(out + 0.5)


def split_scores(answers: np.ndarray) -> dict[str, float]:
    known, hidden = split_columns()
    truth = answers[:, hidden]
    rows = range(len(answers))
    ridge = np.array(
        [
            ridge_predict(np.delete(answers[:, known], r, 0), np.delete(truth, r, 0), answers[r, known])[0][0]
            for r in rows
        ]
    )
    return {
        "population mean": aligned_sum(loo_mean(truth.astype(float), rows), truth, hidden),
        "trait model": aligned_sum(trait_predictions(answers, known, hidden), truth, hidden),
        "ridge": aligned_sum(ridge, truth, hidden),
    }


def key_correlations(answers: np.ndarray) -> dict[str, float]:
    items = form_items("120")
    values = np.where(answers > 0, answers, np.nan).astype(float)
    out = {}
    for d in DOMAINS:
        plus = [k for k, i in enumerate(items) if i.domain == d and i.plus_keyed]
        minus = [k for k, i in enumerate(items) if i.domain == d and not i.plus_keyed]
        out[d] = float(np.corrcoef(np.nanmean(values[:, plus], 1), np.nanmean(values[:, minus], 1))[0, 1])
    return out


def statistics(answers: np.ndarray) -> dict:
    values = np.where(answers > 0, answers, np.nan).astype(float)
    return {
        "means": np.nanmean(values, 0),
        "sds": np.nanstd(values, 0),
        "keys": key_correlations(answers),
        "split": split_scores(answers),
    }


def validate(model: RespondentModel, real: np.ndarray) -> None:
    truth = statistics(real)
    samples = [statistics(model.sample(len(real), seed)) for seed in SEEDS]
    means = np.mean([s["means"] for s in samples], 0)
    sds = np.mean([s["sds"] for s in samples], 0)
    print(
        f"{len(real)} real people; synthetic: {len(SEEDS)} samples of {len(real)} (mean ± sd over samples)\n"
    )
    print("| item statistic | mean abs(real - synthetic) | correlation across the 120 items |")
    print("|---|---|---|")
    print(
        f"| mean | {np.abs(truth['means'] - means).mean():.3f} | {np.corrcoef(truth['means'], means)[0, 1]:.3f} |"
    )
    print(
        f"| standard deviation | {np.abs(truth['sds'] - sds).mean():.3f} | {np.corrcoef(truth['sds'], sds)[0, 1]:.3f} |"
    )
    print("\n| +keyed mean vs -keyed mean, r across people | " + " | ".join(DOMAINS) + " |")
    print("|---|" + "---|" * len(DOMAINS))
    print("| real | " + " | ".join(f"{truth['keys'][d]:.2f}" for d in DOMAINS) + " |")
    print("| synthetic | " + " | ".join(_spread([s["keys"][d] for s in samples]) for d in DOMAINS) + " |")
    print("\n| within-form split (2 known / 2 hidden per facet), summed Aligned Score | real | synthetic |")
    print("|---|---|---|")
    for name, value in truth["split"].items():
        print(f"| {name} | {value:.2f} | {_spread([s['split'][name] for s in samples])} |")


def _spread(values: list[float]) -> str:
    return f"{np.mean(values):.2f} ± {np.std(values):.2f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", default="../shared/data/papi_dev.json")
    parser.add_argument("--fit", action="store_true", help=f"refit and write paso_local/{DATA_FILE}")
    args = parser.parse_args()
    path = Path(args.subjects)
    real = real_answers(path)
    if args.fit:
        provenance = {
            "source": path.name,
            "source_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "people": len(real),
            "items": "the 120-form items, chosen options (read with --orientation keyed)",
            "command": "benchmarks/synthetic_respondents.py --fit",
            "seed": 0,
        }
        model = fit(real, form_items("120"), seed=0, provenance=provenance)
        (PACKAGE / DATA_FILE).write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        shipped_model.cache_clear()
    validate(shipped_model(), real)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
