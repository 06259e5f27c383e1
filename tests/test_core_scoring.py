"""Scoring against values computed by hand, and against PAPI dev subjects."""

import json

import pytest

from paso_local.person.inventory import DOMAINS, all_items, facets, form_items, held_out_items, item
from paso_local.person.scoring import keyed_score, score_answers, to_percent


def test_inventory_shape():
    items = all_items()
    assert len(items) == 300
    assert len(form_items("120")) == 120
    assert [i.neo120 for i in form_items("120")] == list(range(1, 121))
    assert len(held_out_items()) == 180
    assert len(facets()) == 30
    for domain in DOMAINS:
        assert sum(i.domain == domain for i in items) == 60
        assert sum(i.domain == domain for i in form_items("120")) == 24
    for code in facets():
        assert sum(i.facet == code for i in items) == 10
        assert sum(i.facet == code for i in form_items("120")) == 4
    assert item(1).text == "Worry about things." and item(1).keyed == "+" and item(1).facet == "N1"


def test_keyed_score_by_hand():
    plus = next(i for i in all_items() if i.keyed == "+")
    minus = next(i for i in all_items() if i.keyed == "-")
    assert [keyed_score(plus, a) for a in range(1, 6)] == [1, 2, 3, 4, 5]
    assert [keyed_score(minus, a) for a in range(1, 6)] == [5, 4, 3, 2, 1]
    with pytest.raises(ValueError):
        keyed_score(plus, 0)


def test_facet_and_domain_by_hand():
    # N1 (Anxiety) on the 120 form: four items. Answer them 5, 4, 1, missing.
    n1 = [i for i in form_items("120") if i.facet == "N1"]
    assert len(n1) == 4
    answers = {n1[0].number: 5, n1[1].number: 4, n1[2].number: 1}
    expected = [keyed_score(n1[0], 5), keyed_score(n1[1], 4), keyed_score(n1[2], 1)]
    scores = score_answers(answers, "120")
    assert scores.facets["N1"] == pytest.approx(sum(expected) / 3)
    assert scores.answered == 3
    # 3 of 24 neuroticism items: fewer than half, so the domain is missing; other facets are missing too.
    assert scores.domains["N"] is None
    assert scores.facets["N2"] is None


def test_missing_rule_threshold():
    n1 = [i for i in form_items("120") if i.facet == "N1"]
    two = {n1[0].number: 5, n1[1].number: 5}
    one = {n1[0].number: 5}
    assert score_answers(two, "120").facets["N1"] is not None  # 2 of 4 = half: enough
    assert score_answers(one, "120").facets["N1"] is None


def test_all_neutral_and_percent():
    answers = {i.number: 3 for i in form_items("120")}
    scores = score_answers(answers, "120")
    assert all(v == 3.0 for v in scores.domains.values())
    assert to_percent(3.0) == 50.0 and to_percent(1.0) == 0.0 and to_percent(5.0) == 100.0


def test_papi_subject_scores_by_hand(papi_dev):
    subject = json.loads(papi_dev.read_text())[0]
    answers = {n: subject[f"i{n}"] for n in range(1, 301)}
    scores = score_answers(answers, "120")
    for domain in DOMAINS:
        keyed = [
            (a if i.keyed == "+" else 6 - a)
            for i in form_items("120")
            if i.domain == domain and (a := subject[f"i{i.number}"])
        ]
        assert scores.domains[domain] == pytest.approx(sum(keyed) / len(keyed))
    # 300 form uses all 60 items per domain.
    full = score_answers(answers, "300")
    keyed_e = [
        (a if i.keyed == "+" else 6 - a) for i in all_items() if i.domain == "E" and (a := answers[i.number])
    ]
    assert full.domains["E"] == pytest.approx(sum(keyed_e) / len(keyed_e))
