"""Synthetic respondents: people drawn from a model of how the 120-form items are answered (chosen options).

The model (an ordinal probit with one factor per facet):
- a person's latent facet scores z ~ N(0, R) over the 30 facets;
- item i of facet f, keyed s_i = +1/-1: y = (s_i * l_i * z_f + sqrt(1 - l_i^2) * e + a) * exp(x), e ~ N(0, 1);
- a person's style, the same on every item: acquiescence a ~ N(0, sa^2) (agreeing more, whatever the key) and
  extremity x ~ N(0, sx^2) (answers further from the middle, or closer to it);
- the chosen option is 1 + the number of the item's four thresholds below y.

Fitted on real answers in chosen space (`fit`):
- thresholds: the normal quantiles of each item's cumulative option shares (half a count added to each option,
  so no option is impossible), then moved until simulated people choose each option as often;
- sa and sx: matched by simulation to the spread across people of their mean answer and of their mean distance
  from the middle option (real people differ in both more than their traits alone explain);
- loadings l_i: one factor per facet on the signed correlations of the items' normal scores, then scaled per
  facet until simulated people show the real mean within-facet correlation (the five-option cut attenuates
  correlations; matching by simulation undoes that);
- facet correlations R: the real facet scores' correlations, shrunk halfway toward their domain-structure means
  (the mean within each domain and between each pair of domains: 60 people cannot pin 435 correlations), then
  matched by simulation the same way and made a valid correlation matrix.

Parameters ship as package data (data/synthetic_respondents.json) with how they were made;
benchmarks/synthetic_respondents.py refits them and prints the validation against the real people.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from statistics import NormalDist

import numpy as np

from paso_local.errors import PasoError
from paso_local.person.inventory import DOMAINS, Item, item

SCHEMA = 1
DATA_FILE = "data/synthetic_respondents.json"
SHRINK = 0.5  # weight of the estimated facet correlations against their domain-structure means
LOADING_RANGE = (0.05, 0.95)
MATCH_PEOPLE = 20000  # simulated people per moment-matching step
MATCH_STEPS = 6
OPTIONS_PER_UNIT = 1.0  # about how many options one unit of y moves an answer (for matching acquiescence)
_NORMAL = NormalDist()


@dataclass(frozen=True)
class RespondentModel:
    """Fitted parameters over `items` (300-form numbers, in the order of the answer columns)."""

    items: tuple[int, ...]
    facets: tuple[str, ...]
    thresholds: np.ndarray  # [n_items, 4], increasing
    loadings: np.ndarray  # [n_items], in LOADING_RANGE
    facet_correlation: np.ndarray  # [n_facets, n_facets], a correlation matrix
    acquiescence: float = 0.0  # sa
    extremity: float = 0.0  # sx
    provenance: dict = field(default_factory=dict)

    def sample(self, n: int, seed: int) -> np.ndarray:
        """[n, n_items] chosen options 1..5 of n synthetic people."""
        rng = np.random.default_rng(seed)
        latent = rng.standard_normal((n, len(self.facets))) @ np.linalg.cholesky(self.facet_correlation).T
        return _answers(self, latent, self.styles(n, rng), rng)

    def styles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """[n, 2] each person's acquiescence shift and extremity exponent."""
        return rng.standard_normal((n, 2)) * np.array([self.acquiescence, self.extremity])

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "items": list(self.items),
            "facets": list(self.facets),
            "thresholds": np.round(self.thresholds, 5).tolist(),
            "loadings": np.round(self.loadings, 5).tolist(),
            "facet_correlation": np.round(self.facet_correlation, 5).tolist(),
            "acquiescence": round(self.acquiescence, 5),
            "extremity": round(self.extremity, 5),
            "provenance": self.provenance,
        }

    @classmethod
    def from_json(cls, data: dict, where: str) -> RespondentModel:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise PasoError(f"{where}: not a schema-{SCHEMA} synthetic respondent model; refit it")
        try:
            model = cls(
                items=tuple(int(n) for n in data["items"]),
                facets=tuple(str(f) for f in data["facets"]),
                thresholds=np.array(data["thresholds"], dtype=float),
                loadings=np.array(data["loadings"], dtype=float),
                facet_correlation=np.array(data["facet_correlation"], dtype=float),
                acquiescence=float(data["acquiescence"]),
                extremity=float(data["extremity"]),
                provenance=dict(data.get("provenance", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PasoError(f"{where}: damaged synthetic respondent model ({exc}); refit it") from exc
        _check(model, where)
        return model


def _check(model: RespondentModel, where: str) -> None:
    n, f = len(model.items), len(model.facets)
    shapes_ok = (
        model.thresholds.shape == (n, 4)
        and model.loadings.shape == (n,)
        and model.facet_correlation.shape == (f, f)
    )
    if not shapes_ok or not all(np.isfinite(a).all() for a in (model.thresholds, model.loadings)):
        raise PasoError(f"{where}: synthetic respondent model has inconsistent or non-finite parameters")
    if np.any(np.diff(model.thresholds, axis=1) <= 0):
        raise PasoError(f"{where}: an item's thresholds are not increasing")
    if np.min(np.linalg.eigvalsh(model.facet_correlation)) <= 0:
        raise PasoError(f"{where}: the facet correlations are not positive definite")


@lru_cache(maxsize=1)
def shipped_model() -> RespondentModel:
    """The model fitted on the 60 PAPI dev subjects' 120-form answers (package data)."""
    text = resources.files("paso_local").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return RespondentModel.from_json(json.loads(text), DATA_FILE)


# --- the model's pieces ----------------------------------------------------------------------------------


def _layout(items: Sequence[Item]) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Facet codes (inventory order), each item's facet column and key sign."""
    facets = tuple(dict.fromkeys(i.facet for i in items))
    column = np.array([facets.index(i.facet) for i in items])
    keys = np.array([1.0 if i.plus_keyed else -1.0 for i in items])
    return facets, column, keys


def _answers(
    model: RespondentModel, latent: np.ndarray, styles: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    items = [item(n) for n in model.items]
    _, column, keys = _layout(items)
    loadings = model.loadings
    noise = rng.standard_normal((latent.shape[0], len(items)))
    y = latent[:, column] * (keys * loadings) + np.sqrt(1 - loadings**2) * noise + styles[:, :1]
    y = y * np.exp(styles[:, 1:])
    return 1 + (y[:, :, None] > model.thresholds[None]).sum(axis=2)


def thresholds_from(answers: np.ndarray) -> np.ndarray:
    """[n_items, 4] normal quantiles of the cumulative option shares (0 = missing is not counted)."""
    counts = np.stack([(answers == option).sum(axis=0) for option in range(1, 6)], axis=1) + 0.5
    cumulative = np.cumsum(counts, axis=1)[:, :4] / counts.sum(axis=1, keepdims=True)
    return np.vectorize(_NORMAL.inv_cdf)(cumulative)


def normal_scores(answers: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Each answer as the mean of y within its option's interval (NaN where missing)."""
    bounds = np.concatenate(
        [np.full((len(thresholds), 1), -np.inf), thresholds, np.full((len(thresholds), 1), np.inf)], axis=1
    )
    cdf = np.vectorize(_NORMAL.cdf)(bounds)
    pdf = np.where(
        np.isfinite(bounds), np.vectorize(_NORMAL.pdf)(np.where(np.isfinite(bounds), bounds, 0)), 0.0
    )
    means = (pdf[:, :-1] - pdf[:, 1:]) / (cdf[:, 1:] - cdf[:, :-1])  # [n_items, 5]
    columns = np.arange(answers.shape[1])
    picked = means[columns[None, :], np.clip(answers - 1, 0, 4).astype(int)]
    return np.where(answers > 0, picked, np.nan)


def _correlation(values: np.ndarray) -> np.ndarray:
    """Pearson correlations of the columns, a missing value (NaN) replaced by its column's mean."""
    filled = np.where(np.isnan(values), np.nanmean(values, axis=0), values)
    return np.corrcoef(filled, rowvar=False)


def _mean_off_diagonal(block: np.ndarray) -> float:
    return float(block[~np.eye(len(block), dtype=bool)].mean())


def domain_structure(correlation: np.ndarray, facets: Sequence[str]) -> np.ndarray:
    """Each off-diagonal entry replaced by the mean over its pair of domains (the diagonal stays 1)."""
    domains = np.array([f[0] for f in facets])
    out = np.eye(len(facets))
    for a in DOMAINS:
        for b in DOMAINS:
            block = np.outer(domains == a, domains == b) & ~np.eye(len(facets), dtype=bool)
            if block.any():
                out[block] = correlation[block].mean()
    return out


def nearest_correlation(matrix: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """A positive definite correlation matrix near `matrix`: eigenvalues floored, unit diagonal restored."""
    symmetric = (matrix + matrix.T) / 2
    values, vectors = np.linalg.eigh(symmetric)
    fixed = vectors @ np.diag(np.maximum(values, floor)) @ vectors.T
    scale = np.sqrt(np.diag(fixed))
    return fixed / np.outer(scale, scale)


@dataclass(frozen=True)
class _Statistics:
    """What the fit matches, computed the same way on real and on simulated answers."""

    within: np.ndarray  # [n_facets] mean signed correlation between a facet's items (normal scores)
    facets: np.ndarray  # [n_facets, n_facets] correlations of the facet scores
    cumulative: np.ndarray  # [n_items, 4] cumulative option shares
    acquiescence: float  # spread across people of their mean answer
    extremity: float  # spread across people of their mean distance from the middle option
    distance: float  # mean distance from the middle option


def _statistics(answers: np.ndarray, column: np.ndarray, keys: np.ndarray, n_facets: int) -> _Statistics:
    scores = normal_scores(answers, thresholds_from(answers))
    signed = _correlation(scores) * np.outer(keys, keys)
    within = np.array([_mean_off_diagonal(signed[np.ix_(column == f, column == f)]) for f in range(n_facets)])
    values = np.where(answers > 0, answers, np.nan).astype(float)
    counts = np.stack([(answers == option).sum(axis=0) for option in range(1, 6)], axis=1) + 0.5
    distance = np.nanmean(np.abs(values - 3), axis=1)
    return _Statistics(
        within=within,
        facets=_correlation(_facet_scores(scores, column, keys, n_facets)),
        cumulative=np.cumsum(counts, axis=1)[:, :4] / counts.sum(axis=1, keepdims=True),
        acquiescence=float(np.std(np.nanmean(values, axis=1))),
        extremity=float(np.std(distance)),
        distance=float(np.mean(distance)),
    )


def _facet_scores(scores: np.ndarray, column: np.ndarray, keys: np.ndarray, n_facets: int) -> np.ndarray:
    """[n_people, n_facets] the mean keyed normal score of each facet's items."""
    return np.stack(
        [np.nanmean(scores[:, column == f] * keys[column == f], axis=1) for f in range(n_facets)], axis=1
    )


def fit(
    answers: np.ndarray, items: Sequence[Item], seed: int = 0, provenance: dict | None = None
) -> RespondentModel:
    """Fit the model to [n_people, n_items] chosen options (0 = missing) over `items`."""
    if answers.shape[1] != len(items) or answers.shape[0] < 10:
        raise PasoError(
            f"fitting synthetic respondents needs 10+ people on {len(items)} items, got {answers.shape}"
        )
    facets, column, keys = _layout(items)
    real = _statistics(answers, column, keys, len(facets))
    target = SHRINK * real.facets + (1 - SHRINK) * domain_structure(real.facets, facets)
    model = RespondentModel(
        items=tuple(i.number for i in items),
        facets=facets,
        thresholds=thresholds_from(answers),
        loadings=np.sqrt(np.clip(real.within[column], *LOADING_RANGE)),
        facet_correlation=nearest_correlation(target),
        provenance=dict(provenance or {}),
    )
    rng = np.random.default_rng(seed)
    for _ in range(MATCH_STEPS):
        model = _matched(model, real, target, rng)
    return model


def _matched(
    model: RespondentModel, real: _Statistics, target: np.ndarray, rng: np.random.Generator
) -> RespondentModel:
    """One moment-matching step: simulate people, then move every parameter so that the simulated statistics
    approach the real ones."""
    items = [item(n) for n in model.items]
    _, column, keys = _layout(items)
    n_facets = len(model.facets)
    latent = rng.standard_normal((MATCH_PEOPLE, n_facets)) @ np.linalg.cholesky(model.facet_correlation).T
    answers = _answers(model, latent, model.styles(MATCH_PEOPLE, rng), rng)
    sim = _statistics(answers, column, keys, n_facets)
    ratio = np.sqrt(np.clip(real.within, 1e-3, None) / np.clip(sim.within, 1e-3, None))
    quantile = np.vectorize(_NORMAL.inv_cdf)
    thresholds = np.sort(model.thresholds + quantile(real.cumulative) - quantile(sim.cumulative), axis=1)
    return RespondentModel(
        items=model.items,
        facets=model.facets,
        thresholds=thresholds,
        loadings=np.clip(model.loadings * ratio[column], *LOADING_RANGE),
        facet_correlation=_moved_correlation(model, sim, target, answers, latent, column, keys),
        acquiescence=_spread(model.acquiescence, real.acquiescence, sim.acquiescence, OPTIONS_PER_UNIT),
        extremity=_spread(model.extremity, real.extremity, sim.extremity, real.distance),
        provenance=model.provenance,
    )


def _spread(current: float, real: float, simulated: float, slope: float) -> float:
    """A style's SD moved so that the spread it adds across people makes up the real minus the simulated
    variance (`slope`: how much of the statistic one unit of the style moves)."""
    return float(np.sqrt(max(current**2 + (real**2 - simulated**2) / slope**2, 0.0)))


def _moved_correlation(
    model: RespondentModel,
    sim: _Statistics,
    target: np.ndarray,
    answers: np.ndarray,
    latent: np.ndarray,
    column: np.ndarray,
    keys: np.ndarray,
) -> np.ndarray:
    """The facet correlations moved by the gap between target and simulated facet-score correlations, scaled up
    by the facet scores' reliabilities (how well a facet score tracks its latent score)."""
    scores = _facet_scores(normal_scores(answers, thresholds_from(answers)), column, keys, len(model.facets))
    reliability = np.array(
        [np.corrcoef(scores[:, f], latent[:, f])[0, 1] ** 2 for f in range(len(model.facets))]
    )
    step = (target - sim.facets) / np.sqrt(np.outer(reliability, reliability))
    np.fill_diagonal(step, 0.0)
    moved = np.clip(model.facet_correlation + step, -0.95, 0.95)
    np.fill_diagonal(moved, 1.0)
    return nearest_correlation(moved)
