"""benchmarks/merge_eval_shards.py: eval documents on disjoint subjects -> the document one eval over all of
them would have written (scores, controls, references)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from paso_local.evaluation.asking import ItemReading
from paso_local.evaluation.command import build_document, reference_results
from paso_local.evaluation.methods import METHODS
from paso_local.evaluation.runs import MethodRun, population_means, score_readings
from paso_local.evaluation.split import held_out_numbers, split_subject
from paso_local.person.subjects import load_subjects

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "merge_eval_shards.py"


def load_merge():
    spec = importlib.util.spec_from_file_location("merge_eval_shards", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.merge


def readings_for(subject) -> list[ItemReading]:
    """A method that knows the person a little: their answer pulled halfway to 3."""
    out = []
    for n in held_out_numbers():
        value = (subject.held_out[n] or 3) * 0.5 + 1.5
        out.append(ItemReading(n, float(round(value)), value, (0.2,) * 5, 1.0))
    return out


def document(path: Path, indices: list[int]) -> dict:
    pool = [split_subject(s) for s in load_subjects(path)]
    targets = [pool[i] for i in indices]
    populations = population_means(pool, targets)
    run = MethodRun(METHODS["fewshot"])
    for s in targets:
        run.results.append(score_readings(s, readings_for(s), 2.0, populations[s.index]))
        run.seconds += 2.0
    return build_document(
        runs={"fewshot": run},
        references=reference_results(pool, targets, populations),
        reference_controls=reference_results(pool, targets, populations, other_person=True),
        targets=targets,
        populations=populations,
        readout="distribution",
        model={"file": "m.gguf"},
        subjects_file=str(path),
        orientation="keyed",
        wall_seconds=10.0,
    )


def test_merging_shards_gives_what_one_run_over_all_subjects_gives(synthetic_keyed):
    whole = document(synthetic_keyed, [0, 1, 2, 3, 4])
    shards = [json.loads(json.dumps(document(synthetic_keyed, part))) for part in ([0, 1, 2], [3, 4])]
    merged = load_merge()(shards)
    assert merged["methods"] == whole["methods"]
    assert merged["references"] == whole["references"]
    assert merged["methods"]["fewshot"]["other_person"]["n_subjects"] == 5
    assert merged["methods"]["fewshot"]["seconds_per_subject"] == 2.0
    assert merged["wall_seconds"] == 20.0 and merged["merged_from"] == 2


def test_overlapping_shards_are_refused(synthetic_keyed):
    shards = [document(synthetic_keyed, [0, 1]), document(synthetic_keyed, [1])]
    with pytest.raises(SystemExit, match="overlap"):
        load_merge()(shards)
