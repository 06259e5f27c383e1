"""Align's cheaper strength searches against today's full search, subject by subject, through llama.cpp.

For each subject the probes and fold vectors are fitted once; then every policy runs align's own
`cross_validate` on them. Every (vector, item) llama.cpp answer is kept in a memo, so a policy is charged the
prompts it would ask on its own ("asked"), while the run only pays for prompts no earlier policy asked. Per
subject and policy: the candidate and strength chosen, its CV Aligned Score, and, against the full search's
choice, the per-fold difference and its fold-to-fold standard error (the noise a different choice is read
against). One JSON line per subject and policy in --json (resumed: subjects already there are skipped).

    .venv/bin/python benchmarks/cv_search.py --data ../shared/data/papi_dev.json --subjects 0:20 \
        [--model PATH] [--threads 2] [--json runs/cv_search.jsonl] [--policies "full" "outward"]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from paso_local.converters.align_cost import CostLedger
from paso_local.converters.align_inputs import AlignRequest, WoCache, plan_alignment, read_activations
from paso_local.converters.align_pipeline import (
    best_candidate,
    cross_validate,
    cv_folds,
    fit_candidates,
    llama_row_scorer,
    screen_proxy,
)
from paso_local.converters.strength import (
    FULL_SEARCH,
    INTERPOLATED_SEARCH,
    OUTWARD_SEARCH,
    SearchPolicy,
    curve_point,
    interpolated,
)
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
from paso_local.person.aligned_score import aligned_score
from paso_local.person.inventory import form_items
from paso_local.person.subjects import load_subjects

# the outward search before 2026-12-06 (evening): the bar at the unsteered model, every llama.cpp screen from the
# unsteered answers, the domain sum walked from its weakest strength; the variants measured that evening
OUTWARD_BEFORE = dataclasses.replace(
    OUTWARD_SEARCH, bar_at_best=False, curve_screen=0.0, domain_from_combined=False
)
OUTWARD_BEFORE_NO_TORCH = dataclasses.replace(OUTWARD_BEFORE, proxy_screen=0.0)

POLICIES: dict[str, SearchPolicy] = {
    "full": FULL_SEARCH,
    "outward": OUTWARD_SEARCH,
    "outward, no torch screen": dataclasses.replace(OUTWARD_SEARCH, proxy_screen=0.0),
    "outward, bar at the unsteered model": OUTWARD_BEFORE,
    "outward, bar at the unsteered model, no torch screen": OUTWARD_BEFORE_NO_TORCH,
    "outward, bar at the best, torch screen": dataclasses.replace(OUTWARD_BEFORE, bar_at_best=True),
    "outward, bar at the best": dataclasses.replace(OUTWARD_BEFORE_NO_TORCH, bar_at_best=True),
    "outward, curve screen on a quarter": dataclasses.replace(OUTWARD_BEFORE_NO_TORCH, curve_screen=0.25),
    "outward, curve screen on half": dataclasses.replace(OUTWARD_BEFORE_NO_TORCH, curve_screen=0.5),
    "outward, bar at the best, curve screen on half": dataclasses.replace(
        OUTWARD_BEFORE_NO_TORCH, bar_at_best=True, curve_screen=0.5
    ),
    "outward, domain sum from its weakest strength": dataclasses.replace(
        OUTWARD_SEARCH, domain_from_combined=False
    ),
    "outward, domain sum from its weakest strength, no torch screen": dataclasses.replace(
        OUTWARD_SEARCH, domain_from_combined=False, proxy_screen=0.0
    ),
    "outward, every item asked": dataclasses.replace(OUTWARD_SEARCH, stop_early=False, screen=0.0),
    "outward, exact stop only": dataclasses.replace(OUTWARD_SEARCH, screen=0.0),
    "outward, half the items": dataclasses.replace(OUTWARD_SEARCH, item_share=0.5, screen=0.0),
    "outward, screened on half": dataclasses.replace(OUTWARD_SEARCH, screen=0.5),
    "outward, screened on a quarter": dataclasses.replace(OUTWARD_SEARCH, screen=0.25),
    "outward, domain sum also when unsteered": dataclasses.replace(
        OUTWARD_SEARCH, domain_when_unsteered=True
    ),
    # the outward search before 2026-12-06: the domain sum's strengths each asked on every item
    "outward, domain sum in full": dataclasses.replace(OUTWARD_SEARCH, domain_in_full=True),
    "outward, no refinement": dataclasses.replace(OUTWARD_SEARCH, refine=()),
    "interpolated": INTERPOLATED_SEARCH,
    "interpolated, confirm 2": dataclasses.replace(INTERPOLATED_SEARCH, confirm=2),
    "interpolated, domain x1": dataclasses.replace(INTERPOLATED_SEARCH, domain_factors=(1.0,)),
    "interpolated, no domain sum": dataclasses.replace(INTERPOLATED_SEARCH, domain_factors=()),
    "full, no domain sum": dataclasses.replace(FULL_SEARCH, domain_factors=()),
    "interpolated, domain sum also when unsteered": dataclasses.replace(
        INTERPOLATED_SEARCH, domain_when_unsteered=True
    ),
}


def fingerprint(directions: Mapping[int, np.ndarray] | None) -> str:
    if not directions:
        return "unsteered"
    digest = hashlib.sha256()
    for block in sorted(directions):
        digest.update(str(block).encode())
        digest.update(np.ascontiguousarray(directions[block], dtype=np.float32).tobytes())
    return digest.hexdigest()


class Memo:
    """llama.cpp answers per (vector, activation row); counts what each policy asks and what was paid."""

    def __init__(self, score):
        self.score = score
        self.kept: dict[tuple[str, int], tuple[np.ndarray, float]] = {}
        self.asked = 0
        self.stage_asked = 0  # since the last stage closed (StageAsks)
        self.paid = 0
        self.by_strength: dict[tuple[str, int], tuple[np.ndarray, float]] = {}

    def __call__(self, rows: np.ndarray, directions):
        key = fingerprint(directions)
        self.asked += len(rows) if directions else 0
        self.stage_asked += len(rows) if directions else 0
        missing = [int(r) for r in rows if (key, int(r)) not in self.kept]
        if missing:
            dist, mass = self.score(np.asarray(missing), directions)
            self.paid += len(missing) if directions else 0
            for r, d, m in zip(missing, dist, mass, strict=True):
                self.kept[(key, r)] = (d, float(m))
        picked = [self.kept[(key, int(r))] for r in rows]
        return np.asarray([d for d, _ in picked]), np.asarray([m for _, m in picked])


class StageAsks(CostLedger):
    """The prompts a policy asks per strength (cross_validate closes a stage after each), from the memo."""

    def __init__(self, memo: Memo):
        super().__init__()
        self.memo, self.asked = memo, {}

    def close(self, stage: str) -> None:
        if self.memo.stage_asked:
            self.asked[stage.removeprefix("cv ")] = self.memo.stage_asked
        self.memo.stage_asked = 0


def fold_scores(candidate, strength, folds, memo, plan, numbers) -> list[float]:
    """Per fold, the Aligned Score of the fold's items under `candidate` at `strength` (the median)."""
    from paso_local.llm.readout import median_answer

    scores = []
    for fold, vector in zip(folds.parts, candidate.fold_vectors, strict=False):
        rows = folds.rows[fold]
        scaled = {b: v * np.float32(strength) for b, v in vector.items()} if strength else None
        dist, _ = memo(rows, scaled or None)
        predicted = {int(numbers[r]): float(a) for r, a in zip(rows, median_answer(dist), strict=True)}
        scores.append(aligned_score(predicted, plan.answers, plan.items).total)
    return scores


def numbers_of(folds, numbers) -> list[int]:
    return [int(numbers[r]) for r in folds.rows]


def measured_at(candidate, strength, folds, memo) -> tuple[np.ndarray, np.ndarray]:
    dist, mass = np.zeros((len(folds.rows), 5)), np.zeros(len(folds.rows))
    for fold, vector in zip(folds.parts, candidate.fold_vectors, strict=False):
        scaled = {b: v * np.float32(strength) for b, v in vector.items()} if strength else None
        dist[fold], mass[fold] = memo(folds.rows[fold], scaled or None)
    return dist, mass


def interpolation_error(fitted, folds, memo, plan, numbers) -> list[dict]:
    """For the combined vector: the CV score the interpolated search estimates at each strength the full
    search measured between its anchors, against the measured one."""
    combined = next(c for c in fitted if c.kind == "combined")
    asked = [int(numbers[r]) for r in folds.rows]
    anchors = {s: measured_at(combined, s, folds, memo) for s in (0.0, *INTERPOLATED_SEARCH.anchors)}
    out = []
    for s in (-0.5, 0.5, 0.9):
        estimate = curve_point(s, *interpolated(anchors, s), asked, plan.answers, plan.items)
        truth = curve_point(s, *measured_at(combined, s, folds, memo), asked, plan.answers, plan.items)
        out.append(
            {
                "strength": s,
                "estimated": round(estimate.aligned_score, 4),
                "measured": round(truth.aligned_score, 4),
            }
        )
    return out


def run_subject(subject, args, runtime, model) -> list[dict]:
    form = {i.number for i in form_items("120")}
    answers = {n: a for n, a in subject.answers.items() if n in form and a}
    request = AlignRequest(model, answers, show_progress=False, threads=args.threads, runtime=runtime)
    plan = plan_alignment(request)
    found = read_activations(plan)
    folds = cv_folds(found.acts, plan.answers)
    w_o = WoCache(found.torch_model)
    fitted = fit_candidates(plan, found, folds, w_o)
    numbers = [int(n) for n in found.acts.item_numbers]
    memo = Memo(llama_row_scorer(SteeredScorer(runtime), found.acts, plan.items))
    torch_screen = screen_proxy(plan, found, CostLedger())  # None where align would not use one
    proxy = None if torch_screen is None else Memo(torch_screen)
    rows, reference, curves = [], None, None
    for name in args.policies:
        policy = POLICIES[name]
        candidates = [dataclasses.replace(c, search=None) for c in fitted]
        memo.asked, paid_before, started = 0, memo.paid, time.perf_counter()
        stages = StageAsks(memo)
        memo.stage_asked = 0  # not the re-scoring of the policy before
        if proxy is not None:
            proxy.asked = 0
        cross_validate(
            dataclasses.replace(plan, request=dataclasses.replace(request, search=policy)),
            candidates,
            folds,
            memo,
            numbers,
            ledger=stages,
            proxy=proxy,
        )
        best = best_candidate(candidates)
        chosen = best.search.chosen
        asked, paid = memo.asked, memo.paid - paid_before  # before the re-scoring below asks anything
        # the chosen strength's CV score over every item (a policy asking a subset chose on fewer)
        cv = curve_point(
            chosen.strength,
            *measured_at(best, chosen.strength, folds, memo),
            numbers_of(folds, numbers),
            plan.answers,
            plan.items,
        ).aligned_score
        per_fold = fold_scores(best, chosen.strength, folds, memo, plan, numbers)
        if reference is None:
            reference = (best, cv, per_fold)
        diff = np.asarray(per_fold) - np.asarray(reference[2])
        rows.append(
            {
                "subject": subject.index,
                "policy": name,
                "kind": best.kind,
                "strength": chosen.strength,
                "cv": round(cv, 4),
                "base": round(best.search.base.aligned_score, 4),
                "same_choice": (best.kind, chosen.strength)
                == (reference[0].kind, reference[0].search.chosen.strength),
                "cv_minus_full": round(cv - reference[1], 4),
                "fold_se": round(float(np.std(diff, ddof=1) / np.sqrt(len(diff))), 4) if diff.any() else 0.0,
                "asked": asked,
                "torch_screened": 0 if proxy is None else proxy.asked,
                "paid": paid,
                "seconds": round(time.perf_counter() - started, 1),
                "asked_by_strength": stages.asked,
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        if name == "full":  # every candidate's measured curve: is it unimodal in each sign?
            curves = {
                f"{c.contrast} {c.kind}": [[p.strength, round(p.aligned_score, 4)] for p in c.search.curve]
                for c in candidates
                if c.search is not None
            }
    if curves is not None:
        rows.append({"subject": subject.index, "policy": "full curves", "curves": curves})
        print(json.dumps(rows[-1]), flush=True)
    if "interpolated" not in args.policies:
        return rows
    rows.append(
        {
            "subject": subject.index,
            "policy": "interpolation error",
            "points": interpolation_error(fitted, folds, memo, plan, numbers),
            "paid": memo.paid,
        }
    )
    print(json.dumps(rows[-1]), flush=True)
    return rows


def summary(path: Path) -> str:
    """The JSON lines as Markdown: per policy, how often it chose what the reference (the first policy run,
    the full search by default) chose, and its cost."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    first = next(r["policy"] for r in rows if r["policy"] in POLICIES)
    lines = [
        f"| policy | subjects | same choice as {first} | steered | prompts asked (mean) | vs {first} | "
        f"torch-screened prompts (mean) | CV minus {first} (mean, max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    full_asked = np.mean([r["asked"] for r in rows if r["policy"] == first])
    for name in POLICIES:
        mine = [r for r in rows if r["policy"] == name]
        if not mine:
            continue
        diffs = [r["cv_minus_full"] for r in mine]
        asked = np.mean([r["asked"] for r in mine])
        screened = np.mean([r.get("torch_screened", 0) for r in mine])
        lines.append(
            f"| {name} | {len(mine)} | {sum(r['same_choice'] for r in mine)} | "
            f"{sum(r['strength'] != 0 for r in mine)} | {asked:.0f} | {asked / full_asked:.2f} | "
            f"{screened:.0f} | {np.mean(diffs):+.3f}, {max(diffs):+.3f} |"
        )
    risen = 0
    signs = 0
    for r in (r for r in rows if r["policy"] == "full curves"):
        for curve in r["curves"].values():
            score = dict((s, v) for s, v in curve)
            for ladder in ((0.5, 1.2, 2.0), (-0.5, -1.2)):
                walk = [score[0.0]] + [score[s] for s in ladder if s in score]
                signs += 1
                first_rise = next((k for k in range(1, len(walk)) if walk[k] > walk[k - 1]), None)
                risen += first_rise is not None and min(walk[first_rise:]) < walk[first_rise - 1]
    errors = [
        (p["estimated"] - p["measured"])
        for r in rows
        if r["policy"] == "interpolation error"
        for p in r["points"]
    ]
    lines.append("")
    if signs:
        lines.append(
            f"Measured curves (combined and domain sum, each sign): {risen} of {signs} fall again after rising, "
            "beyond the point before the rise (what the outward search would miss)."
        )
    if errors:
        lines.append(
            f"Interpolated CV scores at -0.5, +0.5, +0.9 against the measured ones: mean error "
            f"{np.mean(errors):+.2f}, mean |error| {np.mean(np.abs(errors)):.2f}, largest {max(errors, key=abs):+.2f} "
            f"({len(errors)} points)."
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--subjects", default="0:20", help="FIRST:END (END excluded)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--summary", action="store_true", help="print --json's lines as a table and stop")
    parser.add_argument(
        "--policies",
        nargs="+",
        choices=list(POLICIES),
        default=list(POLICIES),
        metavar="NAME",
        help="policies to run (quoted names); the first is the reference the others are compared with "
        f"(default: all, full first): {'; '.join(POLICIES)}",
    )
    args = parser.parse_args()
    if args.summary:
        print(summary(args.json))
        return 0
    first, end = (int(x) for x in args.subjects.split(":"))
    done = set()
    if args.json and args.json.is_file():
        done = {json.loads(line)["subject"] for line in args.json.read_text().splitlines() if line.strip()}
    model = resolve_model(args.model)
    subjects = load_subjects(args.data)[first:end]
    import torch

    torch.set_num_threads(args.threads)
    with open_scoring_runtime(model, threads=args.threads) as runtime:
        for subject in subjects:
            if subject.index in done:
                continue
            rows = run_subject(subject, args, runtime, model)
            if args.json:
                with open(args.json, "a") as handle:
                    handle.writelines(json.dumps(r) + "\n" for r in rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
