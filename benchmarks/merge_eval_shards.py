"""Merge `paso-local eval --json` files run on disjoint subject ranges into one document and table.

On a 2-core machine two eval processes with `--threads 1` each finish sooner than one with `--threads 2`;
this puts their per-subject rows back together and recomputes the summaries exactly as eval does.

    python benchmarks/merge_eval_shards.py shard0.json shard1.json --json merged.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from paso_local.evaluation.results import print_results, write_json

DOMAINS = ("A", "C", "E", "N", "O")


def summarise_rows(rows: list[dict], seconds_per_subject: float | None) -> dict:
    out: dict = {}
    for d in DOMAINS:
        values = [r[d] for r in rows if r.get(d) is not None]
        out[d] = round(sum(values) / len(values), 4) if values else None
    out["sum"] = round(sum(out[d] for d in DOMAINS), 4) if all(out[d] is not None for d in DOMAINS) else None
    corr = [
        r["correlation"] for r in rows if r.get("correlation") is not None and math.isfinite(r["correlation"])
    ]
    out["correlation"] = round(sum(corr) / len(corr), 4) if corr else None
    out["n_correlated"] = len(corr)
    out["n_subjects"] = len(rows)
    out["seconds_per_subject"] = None if seconds_per_subject is None else round(seconds_per_subject, 2)
    out["unparsable"] = sum(r.get("unparsable", 0) for r in rows)
    peaks = [r.get("peak_rss_mb") or (r.get("align") or {}).get("peak_rss_mb") for r in rows]
    peaks = [float(p) for p in peaks if p]
    out["peak_rss_mb"] = round(max(peaks), 1) if peaks else None
    return out


def merge(documents: list[dict]) -> dict:
    first = documents[0]
    indices = [s["index"] for d in documents for s in d["subjects"]]
    if len(indices) != len(set(indices)):
        raise SystemExit("the shards overlap: each subject must come from exactly one file")
    rows = [row for d in documents for row in d["per_subject"]]
    methods = {}
    for name in first["methods"]:
        own = [r for r in rows if r["method"] == name and not r.get("reference")]
        total_seconds = sum(
            d["methods"][name]["seconds_per_subject"] * d["methods"][name]["n_subjects"] for d in documents
        )
        methods[name] = summarise_rows(own, total_seconds / max(len(own), 1))
    references = {
        name: summarise_rows([r for r in rows if r["method"] == name and r.get("reference")], None)
        for name in first["references"]
    }
    return {
        **first,
        "methods": methods,
        "references": references,
        "per_subject": rows,
        "subjects": [s for d in documents for s in d["subjects"]],
        "wall_seconds": max(d["wall_seconds"] for d in documents),
        "merged_from": len(documents),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shards", nargs="+", type=Path)
    parser.add_argument("--json", help="write the merged document here")
    args = parser.parse_args()
    documents = [json.loads(p.read_text()) for p in args.shards]
    merged = merge(documents)
    print_results(merged)
    if args.json:
        write_json(merged, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
