"""Keyed vectors (the per-domain variant): one PAS vector per group of items, each with its own strength
cross-validated on that group's items of the person's 120 answers; a questionnaire item is then asked with its
own group's vector. Groups: the item's domain, or its domain and IPIP key ("N+": items where agreeing means
more Neuroticism, "N-": less).

This is a questionnaire-only measurement: free conversation has no item, so nothing keys a vector there, and
`paso-local align` keeps writing one vector. Each group's vector is still a llama.cpp control-vector GGUF (the
file llama.cpp applies when that group's items are asked). Everything is chosen on the person's answers only.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.activations import ItemActivations
from paso_local.converters.align_inputs import (
    DEFAULT_HEADS,
    MIN_DOMAIN_LABELS,
    PLACEMENT_SHIFT,
    WoCache,
    first_eligible_layer,
    lazy_torch_model,
    letter_activations,
    restricted,
    summed,
)
from paso_local.converters.align_pipeline import llama_row_scorer
from paso_local.converters.export import build_control_vector
from paso_local.converters.pas import fit_pas, person_labels
from paso_local.converters.strength import COARSE_GRID, FOLDS, cross_validated_search, make_folds, to_unit
from paso_local.errors import PasoError
from paso_local.llm.modelfiles import file_sha256
from paso_local.person.inventory import ITEM_GROUPINGS, form_items, item_group
from paso_local.store.memory import peak_rss_mb

# align's grid plus +-0.2: on Qwen2.5-Coder-1.5B the letter vector's +-0.5 already overshoots (subject 0: CV score
# 3.0 unsteered, 3.33 / 3.75 at -0.5 / +0.5)
KEYED_GRID = tuple(sorted((*COARSE_GRID, -0.2, 0.2)))


@dataclass(frozen=True)
class GroupVector:
    group: str
    path: Path | None  # None: the group is asked unsteered (too few answers, or no clear CV gain)
    strength: float
    cv_base: float
    cv_steered: float
    usable_answers: int


def fit_group_vector(
    acts: ItemActivations, answers: Mapping[int, int], heads: int, w_o: WoCache, min_layer: int
) -> dict[int, np.ndarray]:
    """The letter contrast's PAS vector on these answers only, in strength units ({} when too few)."""
    labels = person_labels(answers, [int(n) for n in acts.item_numbers])
    if len(labels.rows) < MIN_DOMAIN_LABELS:
        return {}
    fit = fit_pas(acts.agree, acts.disagree, labels, heads, w_o, min_layer)
    return to_unit(fit.placed(PLACEMENT_SHIFT), acts.residual_norm)


def align_keyed(
    model_path: Path,
    answers: Mapping[int, int],
    out_dir: Path,
    by: str = "domain",
    heads: int = DEFAULT_HEADS,
    coarse: Sequence[float] = KEYED_GRID,
    runtime: Any = None,
    threads: int | None = None,
) -> tuple[dict[str, GroupVector], dict[str, Any]]:
    """One vector file per group under `out_dir` from the person's 120-form answers (number -> 1..5);
    strengths scored through llama.cpp (`runtime`, or one opened for the purpose)."""
    from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime

    owned = runtime is None
    runtime = runtime or open_scoring_runtime(model_path, threads=threads)
    try:
        return _align_keyed(model_path, answers, out_dir, by, heads, coarse, SteeredScorer(runtime))
    finally:
        runtime.clear_steering()
        if owned:
            runtime.close()


def _align_keyed(
    model_path: Path,
    answers: Mapping[int, int],
    out_dir: Path,
    by: str,
    heads: int,
    coarse: Sequence[float],
    scorer: Any,
) -> tuple[dict[str, GroupVector], dict[str, Any]]:
    from paso_local.converters.gguf_reader import read_config

    started = time.perf_counter()
    torch.manual_seed(0)
    if by not in ITEM_GROUPINGS:
        raise PasoError(f"keyed vectors: group items by one of {', '.join(ITEM_GROUPINGS)}, not {by!r}")
    config = read_config(model_path)
    items = form_items("120")
    answers = {n: a for n, a in restricted(answers, [i.number for i in items]).items() if 1 <= a <= 5}
    torch_model = lazy_torch_model(model_path)
    acts, _ = letter_activations(model_path, items, config.n_layer, torch_model)
    w_o = WoCache(torch_model)
    score = llama_row_scorer(scorer, acts, items)  # every group's unsteered answers computed once
    min_layer = first_eligible_layer(config.n_layer)
    by_number = {i.number: i for i in items}
    groups = sorted({item_group(i, by) for i in items})
    result: dict[str, GroupVector] = {}
    for group in groups:
        own = {n: a for n, a in answers.items() if item_group(by_number[n], by) == group}
        rows = np.asarray([r for r, n in enumerate(acts.item_numbers) if int(n) in own], dtype=np.int64)
        usable = len(person_labels(own, [int(n) for n in acts.item_numbers]).rows)
        if usable < MIN_DOMAIN_LABELS:  # then rows >= 6: every fold has an item
            result[group] = GroupVector(group, None, 0.0, float("nan"), float("nan"), usable)
            continue
        folds = make_folds(len(rows), FOLDS)
        fold_vectors = []
        for fold in folds:
            train = [int(acts.item_numbers[r]) for r in np.delete(rows, fold)]
            fold_vectors.append(fit_group_vector(acts, restricted(own, train), heads, w_o, min_layer))
        numbers = [int(n) for n in acts.item_numbers]
        search = cross_validated_search(score, numbers, rows, folds, fold_vectors, own, items, coarse)
        chosen = search.chosen
        assert chosen is not None
        path = None
        if chosen.strength != 0.0 and any(fold_vectors):
            directions = to_unit(summed(fold_vectors), acts.residual_norm)
            path = out_dir / f"group-{group}.gguf"
            write_group_vector(path, directions, chosen.strength, config, model_path, group, len(own))
        result[group] = GroupVector(
            group, path, chosen.strength, search.base.aligned_score, chosen.aligned_score, usable
        )
    report = {
        "keyed_by": by,
        "groups": {
            g: {
                "strength": v.strength,
                "cv_base": v.cv_base,
                "cv_steered": v.cv_steered,
                "usable": v.usable_answers,
            }
            for g, v in result.items()
        },
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return result, report


def write_group_vector(
    path: Path,
    directions: Mapping[int, np.ndarray],
    strength: float,
    config: Any,
    model_path: Path,
    group: str,
    answers: int,
) -> None:
    from paso_local.llm.controlvector import write_control_vector

    vector = build_control_vector(
        model_hint=config.arch,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        directions=directions,
        strength=strength,
        model_path=model_path,
        model_sha256=file_sha256(model_path),
        profile=f"group {group}",
        form="120",
        usable_answers=answers,
        heads_k=DEFAULT_HEADS,
        chosen_heads=[],
        placement="L-1",
        cv={"keyed_group": group},
        domains={},
    )
    write_control_vector(vector, path)
