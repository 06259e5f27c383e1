"""Aligned Score and within-person correlation of `paso-local eval`, by hand."""

import pytest

from paso_local.evaluation.asking import common_prefix_length
from paso_local.evaluation.metrics import SubjectResult, score_subject, summarise
from paso_local.person.correlation import within_person_correlation
from paso_local.person.inventory import held_out_items
from paso_local.person.questionnaire_prompt import parse_reply


def items_of(domain, n):
    return [i.number for i in held_out_items() if i.domain == domain][:n]


def test_aligned_score_by_hand_skips_missing_and_unparsable():
    a1, a2, a3 = items_of("A", 3)
    (c1,) = items_of("C", 1)
    person = {a1: 4, a2: 4, a3: 0, c1: 5}  # a3 missing: skipped
    answers = {a1: 5.0, a2: 3.0, a3: 1.0, c1: 2.0}
    result = score_subject("x", 0, answers, answers, person)
    assert result.score.per_domain == {"A": 1.0, "C": 3.0}
    assert result.score.total == 4.0
    answers[a2] = None  # unparsable: not scored, counted
    result = score_subject("x", 0, answers, {a1: 5.0, c1: 2.0}, person)
    assert result.score.per_domain == {"A": 1.0, "C": 3.0} and result.unparsable == 1


def test_correlation_by_hand_and_constant_sides():
    assert within_person_correlation({1: 1.0, 2: 2.0, 3: 3.0}, {1: 1, 2: 3, 3: 2}) == pytest.approx(0.5)
    assert within_person_correlation({1: 1.0, 2: 2.0, 3: 3.0, 4: 9.0}, {1: 1, 2: 2, 3: 3, 4: 0}) == (
        pytest.approx(1.0)
    )  # item 4 unanswered by the person: left out
    assert within_person_correlation({1: 3.0, 2: 3.0, 3: 3.0}, {1: 1, 2: 3, 3: 2}) is None  # constant model
    assert within_person_correlation({1: 1.0, 2: 2.0, 3: 3.0}, {1: 4, 2: 4, 3: 4}) is None  # constant person


def test_summary_averages_domains_over_subjects_and_sums():
    a1, a2 = items_of("A", 2)
    numbers = {d: items_of(d, 1)[0] for d in "CENO"}
    person = {a1: 5, a2: 1, **{n: 3 for n in numbers.values()}}
    perfect = {a1: 5.0, a2: 1.0, **{n: 3.0 for n in numbers.values()}}
    off_by_two = {a1: 3.0, a2: 3.0, **{n: 5.0 for n in numbers.values()}}
    r1 = score_subject("1", 0, perfect, perfect, person)
    r2 = score_subject("2", 1, off_by_two, off_by_two, person)
    summary = summarise([r1, r2], seconds_per_subject=1.5)
    assert [summary[d] for d in "ACENO"] == [1.0] * 5 and summary["sum"] == 5.0
    # by hand: r2 has x = [3, 3, 5, 5, 5, 5], y = [5, 1, 3, 3, 3, 3]: the cross-products cancel, r = 0
    assert r1.correlation == pytest.approx(1.0)
    assert r2.correlation == pytest.approx(0.0)
    assert summary["correlation"] == pytest.approx(0.5) and summary["n_correlated"] == 2
    assert summary["n_subjects"] == 2 and summary["seconds_per_subject"] == 1.5


def test_parse_reply_like_the_paper():
    assert parse_reply("(E). Very Inaccurate") == 1
    assert parse_reply(" A") == 5 and parse_reply("b)") == 4
    assert parse_reply("Neither") is None  # no A..E standing alone within 12 characters
    assert parse_reply("As an assistant, I'd say (B)") is None  # "(B" is past the paper's 12-character window
    # the paper's regex takes the "e " of "The": kept as the paper did
    assert parse_reply("The answer: C") == 1


def test_common_prefix_length_leaves_a_token_to_evaluate():
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert common_prefix_length([[1, 2, 3], [1, 2, 3]]) == 2
    assert common_prefix_length([[7, 1], [8, 1]]) == 0
    # a lone prompt shares all but the positions that are read (the readout reads two)
    assert common_prefix_length([[1, 2, 3, 4]]) == 3
    assert common_prefix_length([[1, 2, 3, 4]], keep=2) == 2
    assert common_prefix_length([[1, 2, 3, 4], [1, 2, 3, 5]], keep=2) == 2
    assert common_prefix_length([[1]], keep=2) == 0


def test_peak_memory_per_method_comes_from_what_trained():
    from paso_local.evaluation.command import peak_rss_of

    def result(extra):
        return SubjectResult(case="c", index=0, score=None, correlation=None, extra=extra)  # type: ignore[arg-type]

    assert (
        peak_rss_of([result({"align": {"peak_rss_mb": 900.0}}), result({"align": {"peak_rss_mb": 950.5}})])
        == 950.5
    )
    assert peak_rss_of([result({"peak_rss_mb": 1200.0})]) == 1200.0
    assert peak_rss_of([result({})]) is None


def test_deviation_correlation_by_hand():
    from paso_local.evaluation.metrics import deviation_correlation

    population = {1: 3.0, 2: 2.0, 3: 4.0, 4: 3.0}
    person = {1: 4, 2: 2, 3: 5, 4: 0}  # deviations +1, 0, +1 (item 4 missing)
    predicted = {1: 3.5, 2: 1.0, 3: 4.0, 4: 5.0}  # deviations +0.5, -1, 0
    # x = [0.5, -1, 0] - mean(-1/6); y = [1, 0, 1] - 2/3: r = 0.5 / sqrt((7/6 + 1/6 ... )) computed below
    x = [0.5 + 1 / 6, -1 + 1 / 6, 0 + 1 / 6]
    y = [1 / 3, -2 / 3, 1 / 3]
    expected = (
        sum(a * b for a, b in zip(x, y, strict=True)) / (sum(a * a for a in x) * sum(b * b for b in y)) ** 0.5
    )
    assert deviation_correlation(predicted, person, population) == pytest.approx(expected)
    assert deviation_correlation(population, person, population) is None  # the mean itself: constant 0
    assert deviation_correlation(predicted, person, None) is None


def test_paper_protocol_scores_against_the_stored_keyed_values():
    minus = next(i for i in held_out_items() if not i.plus_keyed)
    plus = next(i for i in held_out_items() if i.plus_keyed and i.domain == minus.domain)
    person = {minus.number: 2, plus.number: 4}  # chosen; the file stored 4 and 4
    answers = {minus.number: 2.0, plus.number: 4.0}  # answers exactly like the person
    result = score_subject("x", 0, answers, answers, person)
    assert result.score.total == 0.0
    assert result.paper_score.total == pytest.approx(1.0)  # |2 - 4| and |4 - 4| over the domain's 2 items


def test_other_person_control_scores_the_next_subjects_predictions():
    from paso_local.evaluation.metrics import other_person_results

    a1, a2, a3 = items_of("A", 3)
    numbers = [a1, a2, a3]
    people = [{a1: 5, a2: 1, a3: 3}, {a1: 1, a2: 5, a3: 3}]
    results = []
    for k, person in enumerate(people):  # each method run predicts its own person perfectly
        values = {n: float(v) for n, v in person.items()}
        result = score_subject(str(k), k, values, values, person)
        result.extra = {"answers": [values[n] for n in numbers], "expected": [values[n] for n in numbers]}
        results.append(result)
    control = other_person_results(results, people, [None, None], numbers)
    assert [r.score.per_domain["A"] for r in control] == [pytest.approx(8 / 3), pytest.approx(8 / 3)]
    assert [r.correlation for r in control] == [pytest.approx(-1.0), pytest.approx(-1.0)]
    assert other_person_results(results[:1], people[:1], [None], numbers) == []


def test_versus_counts_helped_tied_worse():
    from paso_local.evaluation.metrics import versus

    a1, a2 = items_of("A", 2)
    person = {a1: 5, a2: 1}

    def result(index, answer):
        values = {a1: answer, a2: 1.0}
        return score_subject(str(index), index, values, values, person)

    base = [result(0, 3.0), result(1, 3.0), result(2, 3.0)]
    method = [result(0, 5.0), result(1, 3.0), result(2, 1.0)]
    assert versus(method, base) == {"helped": 1, "tied": 1, "worse": 1}
