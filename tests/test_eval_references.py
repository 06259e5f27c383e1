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
