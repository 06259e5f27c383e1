"""Merge `paso-local eval --json` files run on disjoint subject ranges into one document and table.

Long evaluations run in shards (e.g. `--index 0:10`, `--index 10:20`, one after the other, each writing its
JSON as soon as it ends). This puts their per-subject rows back together and recomputes every summary with
eval's own code: scores, deviation r against the leave-one-out population mean, the other-person control
(cyclic over the merged subjects) and helped/tied/worse against base; the no-LLM references are
recomputed from the subjects file over the merged subjects.

    python benchmarks/merge_eval_shards.py shard0.json shard1.json --json merged.json \
        [--with base-all.json]

`--with` adds the methods of another run of the same model that covers these subjects (base on all 60, say),
taken for the merged subjects only, so helped/tied/worse can be counted against a base run once.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from paso_local.evaluation.command import build_document, reference_results
from paso_local.evaluation.lora_methods import LORA_METHODS
from paso_local.evaluation.methods import METHODS
from paso_local.evaluation.metrics import SubjectResult, score_subject
from paso_local.evaluation.references import REFERENCE_NAMES
from paso_local.evaluation.results import print_results, write_json
from paso_local.evaluation.runs import MethodRun, population_means
from paso_local.evaluation.split import held_out_numbers, split_subject
from paso_local.person.subjects import load_subjects

SCORE_FIELDS = {"case", "index", "A", "C", "E", "N", "O", "sum", "correlation", "deviation_correlation"}
SCORE_FIELDS |= {"paper_protocol_sum", "seconds", "unparsable", "method", "reference"}


def rescore(row: dict, subject, population) -> SubjectResult:
    numbers = held_out_numbers()
    answers = dict(zip(numbers, row["answers"], strict=True))
    expected = dict(zip(numbers, row.get("expected", row["answers"]), strict=True))
    result = score_subject(subject.case, subject.index, answers, expected, subject.held_out, population)
    result.seconds = row.get("seconds", 0.0)
    result.extra = {k: v for k, v in row.items() if k not in SCORE_FIELDS}
    return result


def merge(documents: list[dict], extra: Sequence[dict] = ()) -> dict:
    first = documents[0]
    if len({(d["subjects_file"], d.get("orientation")) for d in documents}) != 1:
        raise SystemExit("the shards read different subjects files or orientations")
    indices = [s["index"] for d in documents for s in d["subjects"]]
    if len(indices) != len(set(indices)):
        raise SystemExit("the shards overlap: each subject must come from exactly one file")
    pool = [
        split_subject(s)
        for s in load_subjects(Path(first["subjects_file"]), orientation=first.get("orientation", "keyed"))
    ]
    by_index = {s.index: s for s in pool}
    targets = [by_index[i] for i in indices]
    populations = population_means(pool, targets)
    rows = [row for d in documents for row in d["per_subject"]]
    methods = list(first["methods"])
    for other in extra:
        new, added = added_rows(other, first, set(indices), methods)
        methods, rows = new + methods, rows + added
    runs = {}
    for name in methods:
        run = MethodRun({**METHODS, **LORA_METHODS}[name])
        for row in (r for r in rows if r["method"] == name and not r.get("reference")):
            run.results.append(rescore(row, by_index[row["index"]], populations[row["index"]]))
        run.seconds = sum(r.seconds for r in run.results)
        runs[name] = run
    references = reference_results(pool, targets, populations)
    merged = build_document(
        runs=runs,
        references={name: references[name] for name in REFERENCE_NAMES if name in references},
        reference_controls=reference_results(pool, targets, populations, other_person=True),
        targets=targets,
        populations=populations,
        readout=first["readout"],
        model=first["model"],
        subjects_file=first["subjects_file"],
        orientation=first.get("orientation", "keyed"),
        wall_seconds=sum(d["wall_seconds"] for d in documents),
    )
    return {**merged, "merged_from": len(documents)}


def added_rows(
    other: dict, first: dict, indices: set[int], methods: Sequence[str]
) -> tuple[list[str], list[dict]]:
    """The methods of `other` not in `methods`, and `other`'s rows of them for the shards' subjects."""
    if (other["model"], other["subjects_file"]) != (first["model"], first["subjects_file"]):
        raise SystemExit("--with: a run of another model or subjects file")
    new = [name for name in other["methods"] if name not in methods]
    rows = [r for r in other["per_subject"] if r["method"] in new and r["index"] in indices]
    missing = indices - {r["index"] for r in rows}
    if new and missing:
        raise SystemExit(f"--with: no {', '.join(new)} rows for subjects {sorted(missing)}")
    return new, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", nargs="+", type=Path)
    parser.add_argument("--json", help="write the merged document here")
    parser.add_argument("--with", dest="extra", type=Path, action="append", default=[], help="see above")
    args = parser.parse_args()
    merged = merge(
        [json.loads(p.read_text()) for p in args.shards], [json.loads(p.read_text()) for p in args.extra]
    )
    print_results(merged)
    if args.json:
        write_json(merged, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
