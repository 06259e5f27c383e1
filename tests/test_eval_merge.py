"""benchmarks/merge_eval_shards.py: two eval documents on disjoint subjects -> the summary of all of them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "merge_eval_shards.py"


def load_merge():
    spec = importlib.util.spec_from_file_location("merge_eval_shards", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.merge


def row(method, index, value, corr, reference=False):
    out = {"method": method, "index": index, "case": str(index), "correlation": corr, "unparsable": 0}
    out.update({d: value for d in "ACENO"})
    if reference:
        out["reference"] = True
    return out


def document(indices, values):
    rows = [row("pas", i, v, 0.1 * i) for i, v in zip(indices, values, strict=True)]
    for r in rows:
        r["align"] = {"peak_rss_mb": 1000.0 + r["index"]}
    rows += [row("ridge", i, 0.5, None, reference=True) for i in indices]
    return {
        "methods": {"pas": {"seconds_per_subject": 10.0 * len(indices), "n_subjects": len(indices)}},
        "references": {"ridge": {}},
        "per_subject": rows,
        "subjects": [{"index": i, "case": str(i)} for i in indices],
        "wall_seconds": 100.0 * len(indices),
    }


def test_merge_recomputes_the_summary_over_every_subject():
    merged = load_merge()([document([0, 1], [1.0, 2.0]), document([2], [0.0])])
    pas = merged["methods"]["pas"]
    assert pas["n_subjects"] == 3
    assert pas["A"] == pytest.approx(1.0) and pas["sum"] == pytest.approx(5.0)
    assert pas["correlation"] == pytest.approx(0.1)  # (0 + 0.1 + 0.2) / 3
    assert pas["seconds_per_subject"] == round((20 * 2 + 10 * 1) / 3, 2)
    assert pas["peak_rss_mb"] == 1002.0
    assert merged["references"]["ridge"]["n_subjects"] == 3
    assert merged["references"]["ridge"]["peak_rss_mb"] is None
    assert merged["wall_seconds"] == 200.0


def test_overlapping_shards_are_refused():
    with pytest.raises(SystemExit, match="overlap"):
        load_merge()([document([0, 1], [1.0, 2.0]), document([1], [0.0])])
