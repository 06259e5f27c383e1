"""The assessment's figures, from the per-subject records alone (so a resumed run prints the same table),
and the table itself.

Per method, averaged over subjects: judged = the mean expected rating (1..6, higher is better) over the items
judged; >=4 = the fraction of judged replies whose median rating is 4 or more; A..O = judged per domain.
round trip: agree = the fraction of items where the questionnaire answer given right after the model's own
reply (median of the five options) is on the person's side of the scale (both above 3, both below, or both
3); |err| = the mean |answer - person's answer| (the Aligned Score's unit). Coherence (over every reply):
ppl = exp(total NLL / total tokens) under the unsteered model; empty, truncated, repetitive fractions;
tokens = mean reply length.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
from rich.console import Console
from rich.table import Table

from paso_local.assessment.coherence import TRUNCATED, is_empty, is_repetitive, words
from paso_local.assessment.judge import Judgement
from paso_local.assessment.run import roundtrip_answer
from paso_local.person.inventory import DOMAINS, item

WIDE = 170


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _sign(value: int) -> int:
    return (value > 3) - (value < 3)


def subject_figures(rows: Sequence[dict]) -> dict:
    """One subject's figures for one method, from its item rows."""
    judged = [(r, Judgement.from_json(r["judge"])) for r in rows if r.get("judge") and r["judge"]["probs"]]
    figures: dict = {
        "judged": _mean([j.expected for _, j in judged]),
        "at_least_4": _mean([float(j.median >= 4) for _, j in judged]),
        "judge_mass": _mean([j.mass for _, j in judged]),
    }
    for domain in DOMAINS:
        figures[domain] = _mean([j.expected for r, j in judged if item(r["number"]).domain == domain])
    trips = [
        (r["target"], roundtrip_answer(r["roundtrip"])) for r in rows if r["target"] and r.get("roundtrip")
    ]
    figures["roundtrip_agree"] = _mean([float(_sign(a) == _sign(t)) for t, a in trips])
    figures["roundtrip_error"] = _mean([abs(a - t) for t, a in trips])
    return figures


def method_summary(per_subject: Sequence[dict]) -> dict:
    """A method's row: `per_subject` holds each subject's {"seconds", "items"} for this method."""
    figures = [subject_figures(s["items"]) for s in per_subject]
    row: dict = {}
    for key in ("judged", "at_least_4", *DOMAINS, "judge_mass", "roundtrip_agree", "roundtrip_error"):
        row[key] = _round(_mean([f[key] for f in figures if f[key] is not None]))
    replies = [r for s in per_subject for r in s["items"] if r["reply"] is not None]
    nll_tokens = sum(r["nll_tokens"] for r in replies if r.get("nll") is not None)
    nll = sum(r["nll"] for r in replies if r.get("nll") is not None)
    row["perplexity"] = _round(math.exp(nll / nll_tokens)) if nll_tokens else None
    row["empty"] = _round(_mean([float(is_empty(r["reply"])) for r in replies]))
    row["truncated"] = _round(_mean([float(r["finish"] in TRUNCATED) for r in replies]))
    row["repetitive"] = _round(_mean([float(is_repetitive(r["reply"])) for r in replies]))
    row["tokens"] = _round(_mean([r["tokens"] for r in replies]))
    row["words"] = _round(_mean([len(words(r["reply"])) for r in replies]))
    skips: Counter = Counter()
    for s in per_subject:
        for r in s["items"]:
            for key in ("skip", "roundtrip_skip", "nll_skip"):
                if r.get(key):
                    skips[r[key]] += 1
            if r.get("judge") and r["judge"].get("skip"):
                skips[r["judge"]["skip"]] += 1
    row["skipped"] = dict(sorted(skips.items()))
    row["n_subjects"] = len(per_subject)
    return row


def _cell(value: object, digits: int = 2, weak: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
    return text + "*" if weak else text


def results_table(document: dict) -> Table:
    validation = document["validation"]
    weak = bool(validation["weak"])
    judge = document["judge"]["file"]
    table = Table(
        title=f"Open-ended assessment: judged alignment 1..6 (higher is better), judge {judge}, "
        f"{document['subjects']} subjects x {document['items']} statements",
        caption=_validation_line(validation),
        header_style="bold",
    )
    for name, justify in (("method", "left"), ("judged", "right"), (">=4", "right")):
        table.add_column(name, justify=justify, no_wrap=True)
    for domain in DOMAINS:
        table.add_column(domain, justify="right")
    for name in ("round trip agree", "|err|", "ppl", "empty", "trunc", "repet", "tokens", "skipped"):
        table.add_column(name, justify="right")
    for name, row in document["methods"].items():
        skipped = ", ".join(f"{k} {v}" for k, v in row["skipped"].items()) or "0"
        table.add_row(
            name,
            _cell(row["judged"], weak=weak),
            _cell(row["at_least_4"], weak=weak),
            *(_cell(row[d], weak=weak) for d in DOMAINS),
            _cell(row["roundtrip_agree"]),
            _cell(row["roundtrip_error"]),
            _cell(row["perplexity"], 1),
            _cell(row["empty"]),
            _cell(row["truncated"]),
            _cell(row["repetitive"]),
            _cell(row["tokens"], 0),
            skipped,
        )
    return table


def _validation_line(validation: dict) -> str:
    figures = (
        f"AUC {_cell(validation['auc'])} (gap {_cell(validation['gap'])}) against Very Accurate, "
        f"{_cell(validation['inverse_auc'])} (gap {_cell(validation['inverse_gap'])}) against Very "
        f"Inaccurate, on {validation['items']} statements"
    )
    how = (
        "agree- vs disagree-told replies of the unsteered model; against Very Inaccurate the order must turn"
    )
    if validation["weak"]:
        return (
            f"* JUDGE TOO WEAK: its validation ({figures}; {how}) is below AUC {validation['min_auc']}: "
            "the judged figures are not evidence"
        )
    return f"judge validated: {figures} ({how})"


def print_results(document: dict, console: Console | None = None) -> None:
    console = console or Console()
    if not console.is_terminal:
        console.width = max(console.width, WIDE)
    console.print(results_table(document))
    seconds = document["seconds"]
    parts = [f"validation {seconds['validation']:.0f}"]
    parts += [f"{name} {value:.0f}" for name, value in seconds["per_subject"].items()]
    console.print("seconds (validation once; methods per subject, replies + judge): " + ", ".join(parts))


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)
