"""A seeded synthetic PAPI-style population for tests: people with facet traits who answer like people do.

Each person has a latent score per facet (facets of one domain correlated 0.5); their chosen option on an item
is 3 + the facet score (negated on a minus-keyed item) + noise, rounded and cut into 1..5, with a few items
left missing (0). `write_population` stores it as the published files do (`keyed`: 6 - the chosen option on
minus-keyed items) or as chosen options.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from paso_local.person.inventory import all_items, facets
from paso_local.person.subjects import flip_minus_keyed


def chosen_population(n_people: int, seed: int = 0, missing: float = 0.01) -> list[dict[int, int]]:
    """n_people dicts of item number -> chosen option 1..5 (0 = missing)."""
    rng = np.random.default_rng(seed)
    codes = list(facets())
    same_domain = np.array([[a[0] == b[0] for b in codes] for a in codes], dtype=float)
    covariance = 0.5 * same_domain + 0.5 * np.eye(len(codes))
    traits = rng.multivariate_normal(np.zeros(len(codes)), covariance, size=n_people)  # [people, facets]
    column = {code: k for k, code in enumerate(codes)}
    people = []
    for person in traits:
        answers = {}
        for it in all_items():
            sign = 1.0 if it.plus_keyed else -1.0
            value = 3.0 + 1.1 * sign * person[column[it.facet]] + rng.normal(0.0, 0.8)
            answers[it.number] = 0 if rng.random() < missing else int(np.clip(np.rint(value), 1, 5))
        people.append(answers)
    return people


def write_population(path: Path, people: list[dict[int, int]], orientation: str) -> Path:
    """A PAPI-style JSON list (`case`, `i1`..`i300`) holding `orientation` values."""
    records = []
    for k, answers in enumerate(people):
        values = flip_minus_keyed(answers) if orientation == "keyed" else answers
        records.append({"case": f"s{k}", **{f"i{n}": values[n] for n in sorted(values)}})
    path.write_text(json.dumps(records))
    return path
