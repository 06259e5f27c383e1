"""The trait-content screen: does a model-level direction per Big Five domain move what the statements MEAN?

No person's answers are involved. For a candidate (one direction per domain, block -> vector in align's
strength units, see `paso_local.converters.strength`), each domain's direction is put on the llama.cpp context at a few
strengths and the held-out items of the 300 form are scored (`paso_local.llm.steered_scoring`). With delta = the
change of each item's expected answer against the unsteered model:

- contrast_X(values) = (mean over domain X's +keyed items - mean over its -keyed items) / 2;
- sel = contrast_D(delta) for the direction's own domain D (positive: the +keyed items of D are agreed with
  more, its -keyed items less: the trait moved);
- leak = contrast_X(delta) for each other domain X; max_leak = the largest |leak|;
- knob = mean delta over all items (the "agree more with everything" part);
- mass = mean probability left on the five options; mass_ratio = that over the unsteered mass;
- tau, the trait-specific part of sel: a direction that only shrinks (or inflates) the model's own unsteered
  keyed pattern b_X = contrast_X(base) moves every domain in proportion to b_X. lambda is fit by least squares
  on the four OTHER domains (contrast_X(delta) ~ -lambda x b_X) and tau = sel + lambda x b_D, what remains on
  the target domain.

A domain passes at a strength when tau >= PASS_TAU, mass_ratio >= PASS_MASS_RATIO and max_leak <= sel / 2; a
candidate passes when PASS_DOMAINS of the five domains pass at some strength of the grid.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from paso_local.errors import PasoError
from paso_local.person.inventory import DOMAINS, Item, held_out_items

SCREEN_STRENGTHS = (0.05, 0.1, 0.2, 0.4)
PASS_TAU = 0.25
PASS_MASS_RATIO = 0.5
PASS_DOMAINS = 3
SUBSET_SEED = 0

Directions = Mapping[int, np.ndarray]  # block -> [n_embd]


@dataclass(frozen=True)
class ScreenPoint:
    """One domain's direction at one strength, measured on the screen's items."""

    domain: str
    strength: float
    sel: float
    sel_se: float
    leak: dict[str, float]
    max_leak: float
    knob: float
    mass: float
    mass_ratio: float
    lam: float
    tau: float

    @property
    def passes(self) -> bool:
        return (
            self.tau >= PASS_TAU
            and self.mass_ratio >= PASS_MASS_RATIO
            and self.max_leak <= max(self.sel, 0.0) / 2
        )

    def as_json(self) -> dict:
        return {**asdict(self), "passes": self.passes}


def screen_items(per_key: int | None = None, seed: int = SUBSET_SEED) -> tuple[Item, ...]:
    """The held-out items of the 300 form; with `per_key`, a seeded subset of that many per domain and key
    (chosen from the items' public domain and key only), in form order."""
    items = held_out_items()
    if per_key is None:
        return items
    if per_key < 2:
        raise PasoError(f"--per-key {per_key}: use 2 or more items per domain and key")
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for domain in DOMAINS:
        for key in "+-":
            numbers = [i.number for i in items if i.domain == domain and i.keyed == key]
            chosen = rng.permutation(numbers)[:per_key]
            keep.update(int(n) for n in chosen)
    return tuple(i for i in items if i.number in keep)


def keyed_contrast(values: np.ndarray, items: Sequence[Item], domain: str) -> float:
    """(mean of `values` over the domain's +keyed items - mean over its -keyed items) / 2."""
    plus, minus = _keyed_masks(items, domain)
    return float((values[plus].mean() - values[minus].mean()) / 2)


def keyed_contrast_se(values: np.ndarray, items: Sequence[Item], domain: str) -> float:
    """Standard error of `keyed_contrast` (items as independent draws)."""
    plus, minus = _keyed_masks(items, domain)
    var = values[plus].var(ddof=1) / plus.sum() + values[minus].var(ddof=1) / minus.sum()
    return float(np.sqrt(var) / 2)


def _keyed_masks(items: Sequence[Item], domain: str) -> tuple[np.ndarray, np.ndarray]:
    plus = np.array([i.domain == domain and i.plus_keyed for i in items])
    minus = np.array([i.domain == domain and not i.plus_keyed for i in items])
    if plus.sum() < 2 or minus.sum() < 2:
        raise PasoError(f"the screen needs at least 2 +keyed and 2 -keyed items of domain {domain}")
    return plus, minus


def shrinkage_tau(
    delta_contrasts: Mapping[str, float], base_contrasts: Mapping[str, float], domain: str
) -> tuple[float, float]:
    """(lambda, tau): delta contrast ~ -lambda x base contrast fit on the other domains; tau = what is left of
    the target domain's delta contrast once that proportional part is removed."""
    others = [d for d in delta_contrasts if d != domain]
    b = np.array([base_contrasts[d] for d in others])
    d = np.array([delta_contrasts[x] for x in others])
    lam = float(-(b @ d) / (b @ b)) if float(b @ b) > 0 else 0.0
    return lam, float(delta_contrasts[domain] + lam * base_contrasts[domain])


def screen_point(
    base_expected: np.ndarray,
    base_mass: float,
    steered_expected: np.ndarray,
    steered_mass: np.ndarray,
    items: Sequence[Item],
    domain: str,
    strength: float,
) -> ScreenPoint:
    """The screen's measures for `domain`'s direction at `strength` (expected answers in item order)."""
    delta = steered_expected - base_expected
    domains = list(DOMAINS)
    delta_c = {d: keyed_contrast(delta, items, d) for d in domains}
    base_c = {d: keyed_contrast(base_expected, items, d) for d in domains}
    lam, tau = shrinkage_tau(delta_c, base_c, domain)
    leak = {d: round(v, 4) for d, v in delta_c.items() if d != domain}
    mass = float(np.mean(steered_mass))
    return ScreenPoint(
        domain=domain,
        strength=float(strength),
        sel=delta_c[domain],
        sel_se=keyed_contrast_se(delta, items, domain),
        leak=leak,
        max_leak=max(abs(v) for v in leak.values()),
        knob=float(delta.mean()),
        mass=mass,
        mass_ratio=mass / base_mass if base_mass > 0 else 0.0,
        lam=lam,
        tau=tau,
    )


@dataclass(frozen=True)
class ScreenResult:
    base_contrasts: dict[str, float]
    base_mass: float
    points: list[ScreenPoint]

    def passing_domains(self) -> list[str]:
        return sorted({p.domain for p in self.points if p.passes})

    @property
    def passes(self) -> bool:
        return len(self.passing_domains()) >= PASS_DOMAINS

    def best(self, domain: str) -> ScreenPoint | None:
        """The domain's point with the largest tau among those keeping enough mass (None: none did)."""
        kept = [p for p in self.points if p.domain == domain and p.mass_ratio >= PASS_MASS_RATIO]
        return max(kept, key=lambda p: p.tau) if kept else None

    def as_json(self) -> dict:
        return {
            "base_contrasts": {d: round(v, 4) for d, v in self.base_contrasts.items()},
            "base_mass": round(self.base_mass, 4),
            "points": [p.as_json() for p in self.points],
            "passing_domains": self.passing_domains(),
            "passes": self.passes,
        }


def run_screen(
    scorer: object,
    items: Sequence[Item],
    unit_directions: Mapping[str, Directions],
    strengths: Sequence[float] = SCREEN_STRENGTHS,
    *,
    base: object | None = None,
    on_scored: Callable[[int], None] | None = None,
) -> ScreenResult:
    """Every domain's direction (in strength units) at each strength, weakest first; a domain's stronger
    strengths are skipped once one leaves less than PASS_MASS_RATIO of the unsteered mass (they can only
    lose more). `base`: the unsteered OptionScores of `items`, if already scored."""
    base = base or scorer.score(items, None)
    advance = on_scored or (lambda _n: None)
    base_mass = float(np.mean(base.mass))
    points: list[ScreenPoint] = []
    for domain, unit in unit_directions.items():
        ordered = sorted(strengths, key=abs)
        for k, strength in enumerate(ordered):
            scaled = {b: (strength * v).astype(np.float32) for b, v in unit.items()}
            steered = scorer.score(items, scaled)
            point = screen_point(
                base.expected, base_mass, steered.expected, steered.mass, items, domain, strength
            )
            points.append(point)
            if point.mass_ratio < PASS_MASS_RATIO:
                advance(len(items) * (len(ordered) - k))  # the skipped strengths count as done
                break
            advance(len(items))
    base_c = {d: keyed_contrast(base.expected, items, d) for d in DOMAINS}
    return ScreenResult(base_c, base_mass, points)
