"""The eval's output: a rich table (methods, the references computed from the subjects file, the paper's
published numbers) and the JSON document. Every figure is against the options the persons chose, except the
"paper" column (against the stored keyed values, as the paper's code scores) and the published rows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from paso_local.errors import PasoError
from paso_local.person.inventory import DOMAINS
from paso_local.store.storage import atomic_write_text

# Zhu et al. 2025 (ICLR), Aligned Score on the PAPI test set, as the paper publishes them.
PUBLISHED: dict[str, dict[str, float | None]] = {
    "PAS, Llama-3-8B-Instruct": {"A": 0.94, "C": 0.91, "E": 0.86, "N": 0.98, "O": 0.72, "sum": 4.41},
    "GPT-4o, prompted": {"sum": 4.42},
    "PAS, Llama-3-70B": {"sum": 4.74},
    "Few-shot prompt, Llama-3-8B": {"sum": 5.96},
    "DPO, Llama-3-8B": {"sum": 7.45},
    "PPO, Llama-3-8B": {"sum": 7.62},
}
# The same non-LLM references computed on the paper's 300 released test subjects, against the chosen options
# (../shared/data/README.md); acquiescence-only was computed against the stored values and is not repeated.
TEST_SET_REFERENCES: dict[str, dict[str, float | None]] = {
    "answer-C": {"sum": 3.79},
    "population-mean-LOO": {"sum": 3.14, "correlation": 0.59},
    "trait-model": {"sum": 2.72, "correlation": 0.59},
    "ridge-LOO": {"sum": 2.40, "correlation": 0.75},
}
WIDE = 200


def cell(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def other_cell(control: dict | None) -> str:
    if not control:
        return "-"
    return f"{cell(control.get('sum'))} / {cell(control.get('deviation_correlation'))}"


def versus_cell(counts: dict | None) -> str:
    if not counts:
        return "-"
    return f"{counts['helped']}/{counts['tied']}/{counts['worse']}"


def results_table(document: dict) -> Table:
    """One row per method, reference and published figure; lower Aligned Score is better."""
    table = Table(
        title=f"Aligned Score on the 180 held-out items against the options the persons chose (lower is "
        f"better), readout: {document['readout']}",
        caption="r: within-person Pearson r between the model's expected answer (a reference's prediction) "
        "and the person's answer; dev r: the same for both minus the item's population mean; other: the "
        "method given the next subject's answers (sum / dev r); +/=/-: subjects helped, tied, worse than "
        "base; paper: the sum against the stored keyed values, as the paper scores it",
        header_style="bold",
    )
    table.add_column("method", no_wrap=True)
    table.add_column("source", no_wrap=True)
    for name in DOMAINS:
        table.add_column(name, justify="right")
    table.add_column("sum", justify="right", style="bold")
    table.add_column("r", justify="right")
    table.add_column("dev r", justify="right")
    table.add_column("other", justify="right")
    table.add_column("+/=/-", justify="right")
    table.add_column("paper", justify="right")
    table.add_column("subjects", justify="right")
    table.add_column("s/subject", justify="right")
    table.add_column("peak MB", justify="right")

    def add(label: str, source: str, row: dict, seconds: bool = True) -> None:
        table.add_row(
            label,
            source,
            *(cell(row.get(d)) for d in DOMAINS),
            cell(row.get("sum")),
            cell(row.get("correlation")),
            cell(row.get("deviation_correlation")),
            other_cell(row.get("other_person")),
            versus_cell(row.get("versus_base")),
            cell((row.get("paper_protocol") or {}).get("sum")),
            cell(row.get("n_subjects")),
            cell(row.get("seconds_per_subject"), 1) if seconds else "",
            cell(row.get("peak_rss_mb"), 0) if seconds else "",
        )

    model = document.get("model", {}).get("file", "model").removesuffix(".gguf")
    for name, row in document["methods"].items():
        add(name, model, row)
    table.add_section()
    for name, row in document["references"].items():
        add(name, "no LLM, this file", row, seconds=False)
    table.add_section()
    for name, row in document["published"].items():
        add(name, "paper (its own scoring)", row, seconds=False)
    for name, row in document["published_test_set_references"].items():
        add(name, "no LLM, paper's 300 test subjects", row, seconds=False)
    return table


def print_results(document: dict, console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, WIDE)  # a file or pipe gets the whole table unwrapped
    console.print(results_table(document))
    unparsable = {n: r["unparsable"] for n, r in document["methods"].items() if r.get("unparsable")}
    if unparsable:
        console.print(
            "unparsable replies (left out of the score, as the paper's code does): "
            + ", ".join(f"{n} {c}" for n, c in unparsable.items())
        )


def write_json(document: dict, out: str) -> None:
    """`out` is a path, or '-' for stdout."""
    text = json.dumps(document, indent=1)
    if out == "-":
        sys.stdout.write(text + "\n")
        return
    try:
        atomic_write_text(Path(out), text + "\n")
    except OSError as exc:  # storage raises PasoError for most failures; be safe
        raise PasoError(f"cannot write {out}: {exc}") from exc
