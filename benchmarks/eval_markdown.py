"""Print an eval document (`paso-local eval --json`, or one merged by merge_eval_shards.py) as a Markdown table
for docs/results: every method and reference with its sum, r, deviation r, the other-person control,
helped/tied/worse against base, the paper-protocol sum and seconds per subject.

    python benchmarks/eval_markdown.py merged.json [--label "SmolLM2-135M"]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from paso_local.evaluation.results import cell, other_cell, versus_cell

HEADER = (
    "| model | method | subjects | sum | r | dev r | other person: sum / dev r | helped / tied / worse "
    "| paper protocol | s / subject |"
)


def row(label: str, name: str, summary: dict) -> str:
    cells = [
        label,
        name,
        str(summary.get("n_subjects", "-")),
        cell(summary.get("sum")),
        cell(summary.get("correlation")),
        cell(summary.get("deviation_correlation")),
        other_cell(summary.get("other_person")),
        versus_cell(summary.get("versus_base")).replace("/", " / "),
        cell((summary.get("paper_protocol") or {}).get("sum")),
        cell(summary.get("seconds_per_subject"), 0),
    ]
    return "| " + " | ".join(cells) + " |"


def table(document: dict, label: str, references: bool = True) -> list[str]:
    lines = [row(label, name, s) for name, s in document["methods"].items()]
    if references:
        lines += [row("no LLM", name, s) for name, s in document["references"].items()]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("documents", nargs="+", type=Path)
    parser.add_argument("--label", action="append", help="model label per document (default: its file)")
    parser.add_argument("--no-references", action="store_true", help="leave out the no-LLM rows")
    args = parser.parse_args()
    labels = args.label or []
    print(HEADER)
    print("|---" * 10 + "|")
    for k, path in enumerate(args.documents):
        document = json.loads(path.read_text())
        label = labels[k] if k < len(labels) else document["model"].get("file", path.stem)
        for line in table(document, label, references=not args.no_references and k == 0):
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
