"""The no-LLM references of `paso-local eval`, on tiny hand-computed subject sets and synthetic data."""

import numpy as np
import pytest

from paso_local.evaluation.references import (
    RidgeFit,
    acquiescence_only,
    answer_c,
    choose_penalty,
    loo_mean,
    ridge_loo,
)
from paso_local.evaluation.split import SplitSubject, alignment_numbers, held_out_numbers


def subject(alignment_values, held_value=3, index=0):
    alignment = dict(zip(alignment_numbers(), alignment_values, strict=True))
    held = {n: held_value for n in held_out_numbers()}
    return SplitSubject(case=str(index), index=index, alignment=alignment, held_out=held)


def test_answer_c_is_three_everywhere():
    assert answer_c(2, 4).tolist() == [[3.0] * 4, [3.0] * 4]


def test_loo_mean_by_hand():
    pool = np.array([[1.0, 5.0], [3.0, 0.0], [5.0, 4.0]])  # 0 = missing
    got = loo_mean(pool, [0, 1, 2])
    assert got[0].tolist() == [4.0, 4.0]  # (3+5)/2 ; only subject 2 answered item 2
    assert got[1].tolist() == [3.0, 4.5]  # (1+5)/2 ; (5+4)/2
    assert got[2].tolist() == [2.0, 5.0]  # (1+3)/2 ; 5


def test_loo_mean_excludes_the_subject_itself():
    pool = np.array([[1.0, 5.0], [3.0, 2.0], [5.0, 4.0]])
    before = loo_mean(pool, [0])
    pool[0] = [5.0, 1.0]  # the subject's own answers must not move its prediction
    assert loo_mean(pool, [0]).tolist() == before.tolist()
    pool[1] = [1.0, 1.0]  # another subject's do
    assert loo_mean(pool, [0]).tolist() != before.tolist()


def test_acquiescence_only_is_the_median_of_the_own_120_answers():
    values = [2] * 60 + [4] * 50 + [0] * 10  # median of the 110 given answers is 2
    person = subject(values, held_value=5)
    got = acquiescence_only([person])
    assert got.shape == (1, 180) and set(got[0].tolist()) == {2.0}
    values = [1] * 30 + [3] * 30 + [5] * 60  # 120 answers: the middle two are 3 and 5
    assert acquiescence_only([subject(values)])[0, 0] == 4.0


def test_ridge_recovers_a_known_linear_map():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 6))
    w = rng.normal(size=(6, 3))
    b = np.array([1.0, -2.0, 0.5])
    y = x @ w + b
    fit = RidgeFit(x, y)
    np.testing.assert_allclose(fit.weights(1e-8), w, atol=1e-6)
    x_new = rng.normal(size=(5, 6))
    np.testing.assert_allclose(fit.predict(x_new, 1e-8), x_new @ w + b, atol=1e-6)
    # a large penalty shrinks the weights toward zero (predictions toward the mean)
    assert np.abs(fit.weights(1e6)).max() < 0.01


def test_choose_penalty_uses_small_penalty_on_noiseless_data_and_large_on_noise():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 5)) + 3
    y = np.clip(3 + 0.4 * (x[:, :1] - 3), 1, 5) * np.ones((1, 4))
    answered = np.ones_like(y, dtype=bool)
    assert choose_penalty(x, y, answered, penalties=(1e-6, 1e3, 1e6)) == 1e-6
    noise_y = rng.normal(size=(60, 4)) + 3  # unrelated to x: shrinking all the way wins
    assert choose_penalty(x, noise_y, answered, penalties=(1e-6, 1e6)) == 1e6


def test_ridge_loo_predicts_a_linear_population():
    rng = np.random.default_rng(3)
    alignment = rng.integers(1, 6, size=(120, 20)).astype(float)  # more subjects than answers
    held = 3 + 0.5 * (alignment[:, :1] - 3) - 0.25 * (alignment[:, 1:2] - 3) + np.zeros((1, 6))
    got = ridge_loo(alignment, held, [0, 7])
    np.testing.assert_allclose(got, held[[0, 7]], atol=0.15)


@pytest.mark.parametrize("rows", [[0], [3]])
def test_ridge_loo_ignores_the_targets_own_held_out_answers(rows):
    rng = np.random.default_rng(4)
    alignment = rng.integers(1, 6, size=(12, 120)).astype(float)
    held = rng.integers(1, 6, size=(12, 180)).astype(float)
    before = ridge_loo(alignment, held, rows)
    held[rows[0]] = 5.0
    np.testing.assert_array_equal(ridge_loo(alignment, held, rows), before)


def test_trait_model_keys_the_facet_score_back_to_each_item():
    from paso_local.evaluation.references import trait_model
    from paso_local.person.inventory import item

    numbers = alignment_numbers()
    values = [5 if item(n).plus_keyed else 1 for n in numbers]  # the top of every facet, in chosen options
    values[[item(n).facet for n in numbers].index("N1")] = 3  # one N1 answer in the middle: N1 = 18/4
    prediction = trait_model([subject(values)])[0]
    for number, predicted in zip(held_out_numbers(), prediction, strict=True):
        it = item(number)
        score = 4.5 if it.facet == "N1" else 5.0  # (5 + 5 + 5 + 3) / 4 keyed; 4.5 -> 5, 1.5 -> 2
        by_hand = score if it.plus_keyed else 6 - score
        assert predicted == np.floor(by_hand + 0.5), (number, it.facet, it.keyed)


def test_trait_model_falls_back_to_the_domain_then_the_middle():
    from paso_local.evaluation.references import trait_model
    from paso_local.person.inventory import item

    numbers = alignment_numbers()
    values = [0 if item(n).facet == "O1" else (4 if item(n).plus_keyed else 2) for n in numbers]
    prediction = trait_model([subject(values)])[0]
    o1 = [k for k, n in enumerate(held_out_numbers()) if item(n).facet == "O1"]
    # O1 unanswered: the O domain score (20 answers of keyed 4 -> 4) keys back to 4 or 2
    assert {prediction[k] for k in o1} <= {4.0, 2.0}
    empty = trait_model([subject([0] * 120)])[0]
    assert set(empty.tolist()) == {3.0}


def test_references_match_an_independent_computation_on_ten_subjects(synthetic_keyed):
    """The eval's trait-model and population mean on 10 subjects against plain loops over the file."""
    import json

    from paso_local.evaluation.command import reference_results
    from paso_local.evaluation.runs import population_means
    from paso_local.evaluation.split import split_subject
    from paso_local.person.inventory import item
    from paso_local.person.subjects import load_subjects

    pool = [split_subject(s) for s in load_subjects(synthetic_keyed)]
    targets = pool[5:15]
    results = reference_results(pool, targets, population_means(pool, targets))
    raw = json.loads(synthetic_keyed.read_text())
    chosen = [
        {
            n: (v if item(n).plus_keyed or not v else 6 - v)
            for n, v in ((int(k[1:]), v) for k, v in r.items() if k != "case")
        }
        for r in raw
    ]
    held = [n for n in range(1, 301) if item(n).neo120 is None]
    trait_sums, mean_sums = [], []
    for k in range(5, 15):
        person = chosen[k]
        facet: dict[str, list[int]] = {}
        for n, v in person.items():
            if item(n).neo120 is not None and v:
                facet.setdefault(item(n).facet, []).append(v if item(n).plus_keyed else 6 - v)
        errors_t: dict[str, list[float]] = {}
        errors_m: dict[str, list[float]] = {}
        for n in held:
            if not person[n]:
                continue
            score = sum(facet[item(n).facet]) / len(facet[item(n).facet])
            guess = int(score + 0.5) if item(n).plus_keyed else int(6 - score + 0.5)
            others = [chosen[j][n] for j in range(len(chosen)) if j != k and chosen[j][n]]
            errors_t.setdefault(item(n).domain, []).append(abs(guess - person[n]))
            errors_m.setdefault(item(n).domain, []).append(abs(sum(others) / len(others) - person[n]))
        trait_sums.append(sum(sum(e) / len(e) for e in errors_t.values()))
        mean_sums.append(sum(sum(e) / len(e) for e in errors_m.values()))
    assert [r.score.total for r in results["trait-model"]] == pytest.approx(trait_sums, abs=1e-9)
    assert [r.score.total for r in results["population-mean-LOO"]] == pytest.approx(mean_sums, abs=1e-9)
