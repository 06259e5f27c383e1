"""Synthetic respondents (paso_local.person.synthetic): hand-computed pieces, the shipped parameters, sampling in
chosen space, the JSON round trip and its refusals, and a fit that recovers the model it was sampled from."""

from __future__ import annotations

import json
from statistics import NormalDist

import numpy as np
import pytest

from paso_local.errors import PasoError
from paso_local.person import synthetic
from paso_local.person.inventory import DOMAINS, form_items
from paso_local.person.synthetic import (
    RespondentModel,
    domain_structure,
    nearest_correlation,
    normal_scores,
    shipped_model,
    thresholds_from,
)


def test_thresholds_are_the_normal_quantiles_of_the_smoothed_cumulative_shares():
    answers = np.array([[1], [2], [2], [3], [5], [0]])  # 0 is missing: not counted
    counts = np.array([1, 2, 1, 0, 1]) + 0.5
    expected = [NormalDist().inv_cdf(c) for c in np.cumsum(counts)[:4] / counts.sum()]
    assert thresholds_from(answers)[0] == pytest.approx(expected)


def test_normal_scores_are_the_mean_of_y_within_the_chosen_interval():
    thresholds = np.array([[-1.0, -0.5, 0.5, 1.0]])
    scores = normal_scores(np.array([[3], [5], [0]]), thresholds)
    assert scores[0, 0] == pytest.approx(0.0)  # the middle interval is symmetric
    n = NormalDist()
    assert scores[1, 0] == pytest.approx(n.pdf(1.0) / (1 - n.cdf(1.0)))  # the mean of y above 1
    assert np.isnan(scores[2, 0])


def test_domain_structure_averages_each_pair_of_domains_and_keeps_the_diagonal():
    facets = ("A1", "A2", "C1")
    corr = np.array([[1.0, 0.4, 0.1], [0.4, 1.0, 0.3], [0.1, 0.3, 1.0]])
    assert domain_structure(corr, facets) == pytest.approx(
        np.array([[1.0, 0.4, 0.2], [0.4, 1.0, 0.2], [0.2, 0.2, 1.0]])
    )


def test_nearest_correlation_repairs_an_indefinite_matrix():
    bad = np.array([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]])
    fixed = nearest_correlation(bad)
    assert np.min(np.linalg.eigvalsh(fixed)) > 0
    assert np.diag(fixed) == pytest.approx(np.ones(3))


def test_the_shipped_model_covers_the_120_form_and_says_how_it_was_made():
    model = shipped_model()
    assert model.items == tuple(i.number for i in form_items("120"))
    assert len(model.facets) == 30
    assert model.provenance["people"] == 60
    assert "synthetic_respondents.py --fit" in model.provenance["command"]
    assert 0 < model.acquiescence < 1 and 0 < model.extremity < 1


def test_samples_are_chosen_options_with_the_keys_pulling_apart():
    model = shipped_model()
    answers = model.sample(400, seed=1)
    assert answers.shape == (400, 120) and answers.min() >= 1 and answers.max() <= 5
    assert np.array_equal(answers, model.sample(400, seed=1))
    assert not np.array_equal(answers, model.sample(400, seed=2))
    items = form_items("120")
    for domain in DOMAINS:  # chosen space: +keyed and -keyed means correlate negatively
        plus = [k for k, i in enumerate(items) if i.domain == domain and i.plus_keyed]
        minus = [k for k, i in enumerate(items) if i.domain == domain and not i.plus_keyed]
        assert np.corrcoef(answers[:, plus].mean(1), answers[:, minus].mean(1))[0, 1] < -0.3


def test_json_round_trip_is_exact_and_damage_is_refused(tmp_path):
    data = shipped_model().to_json()
    again = RespondentModel.from_json(json.loads(json.dumps(data)), "x.json")
    assert again.to_json() == data
    with pytest.raises(PasoError, match="x.json.*schema"):
        RespondentModel.from_json({**data, "schema": 99}, "x.json")
    with pytest.raises(PasoError, match="x.json.*damaged"):
        RespondentModel.from_json({k: v for k, v in data.items() if k != "loadings"}, "x.json")
    flipped = [row[::-1] for row in data["thresholds"]]
    with pytest.raises(PasoError, match="x.json.*increasing"):
        RespondentModel.from_json({**data, "thresholds": flipped}, "x.json")


def test_a_fit_recovers_the_model_it_was_sampled_from(monkeypatch):
    monkeypatch.setattr(synthetic, "MATCH_PEOPLE", 4000)
    truth = shipped_model()
    answers = truth.sample(3000, seed=5)
    fitted = synthetic.fit(answers, form_items("120"), seed=0)
    # measured: 0.006, 0.016, 0.053; without the moment matching 0.067, 0.044, 0.147
    assert np.abs(fitted.loadings - truth.loadings).mean() < 0.03
    off = ~np.eye(30, dtype=bool)
    # shrunk halfway toward the domain structure, so compare against the shrunk truth
    shrunk = 0.5 * truth.facet_correlation + 0.5 * domain_structure(truth.facet_correlation, truth.facets)
    assert np.abs(fitted.facet_correlation - shrunk)[off].mean() < 0.03
    assert np.abs(fitted.thresholds - truth.thresholds).mean() < 0.08
    assert fitted.extremity == pytest.approx(truth.extremity, abs=0.06)
    assert fitted.acquiescence == pytest.approx(truth.acquiescence, abs=0.05)


def test_a_fit_refuses_too_few_people():
    with pytest.raises(PasoError, match="10\\+ people"):
        synthetic.fit(np.full((5, 120), 3), form_items("120"))
