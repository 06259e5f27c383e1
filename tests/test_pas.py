"""paso_local.converters.pas on synthetic activations: labels, probes, ranking, mass-mean directions, the W_o fold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from paso_local.converters.pas import (
    MIN_USABLE_ANSWERS,
    fit_pas,
    fit_pas_statements,
    fit_probes,
    fit_residual,
    fold_through_wo,
    mass_mean_directions,
    person_labels,
    probe_samples,
    rank_heads,
    require_enough_answers,
    split_items,
)
from paso_local.errors import PasoError


def test_labels_from_answers():
    labels = person_labels({10: 5, 11: 4, 12: 3, 13: 2, 14: 1, 15: 0}, [10, 11, 12, 13, 14, 15, 16])
    assert labels.rows.tolist() == [0, 1, 3, 4]  # 3, missing (0) and unanswered (16) dropped
    assert labels.agrees.tolist() == [True, True, False, False]


def test_probe_samples_put_the_persons_side_first_class():
    agree = np.array([[1.0], [2.0], [3.0]])
    disagree = np.array([[-1.0], [-2.0], [-3.0]])
    labels = person_labels({1: 5, 2: 1, 3: 3}, [1, 2, 3])
    x, y = probe_samples(agree, disagree, labels)
    # item 1 agrees: its A prompt is the person's side; item 2 disagrees: its E prompt is
    assert x[:, 0].tolist() == [1.0, 2.0, -1.0, -2.0]
    assert y.tolist() == [1.0, 0.0, 0.0, 1.0]


def test_too_few_usable_answers_is_refused_with_the_count_needed():
    labels = person_labels({n: 3 for n in range(1, 121)} | {1: 5, 2: 1}, list(range(1, 121)))
    with pytest.raises(PasoError) as err:
        require_enough_answers(labels, MIN_USABLE_ANSWERS, "profile 'neutral'")
    message = str(err.value)
    assert "has 2 usable answers" in message
    assert f"at least {MIN_USABLE_ANSWERS}" in message
    assert f"Give {MIN_USABLE_ANSWERS - 2} more" in message
    assert "4-5" in message and "1-2" in message
    require_enough_answers(person_labels({n: 5 for n in range(1, 25)}, list(range(1, 25))), 24)


def test_split_is_seeded_and_disjoint():
    train, val = split_items(10, seed=3)
    again_train, _ = split_items(10, seed=3)
    assert train.tolist() == again_train.tolist()
    assert len(train) == 6 and len(val) == 4
    assert sorted(train.tolist() + val.tolist()) == list(range(10))


def test_batched_probes_solve_each_head_independently():
    rng = np.random.default_rng(0)
    n, d = 80, 3
    y = np.tile([0.0, 1.0], n // 2)
    informative = rng.normal(size=(n, d)) + np.outer(2 * y - 1, [2.0, 0.0, 0.0])  # separable on dim 0
    noise = rng.normal(size=(n, d))
    x = np.stack([noise, informative], axis=1)  # [n, P=2, d]
    xt, yt = torch.tensor(x), torch.tensor(y)
    result = fit_probes(xt[:60], yt[:60], xt[60:], yt[60:])
    assert result.val_accuracy[1] >= 0.9
    assert result.val_accuracy[0] < result.val_accuracy[1]
    # head 1 alone gives the same answer as a batch of one (independence of the batched problems)
    alone = fit_probes(xt[:60, 1:], yt[:60], xt[60:, 1:], yt[60:])
    np.testing.assert_allclose(alone.weights.numpy()[0], result.weights.numpy()[1], atol=1e-8)
    # the optimum: the regularised gradient vanishes (checked on standardised features by hand)
    mean, std = x[:60, 1].mean(0), x[:60, 1].std(0)
    z = (x[:60, 1] - mean) / std
    w, b = result.weights.numpy()[1], float(result.bias[1])
    p = 1 / (1 + np.exp(-(z @ w + b)))
    np.testing.assert_allclose(z.T @ (p - y[:60]) + 1.0 * w, 0, atol=1e-6)
    assert abs((p - y[:60]).sum()) < 1e-5


def test_rank_heads_by_accuracy_then_loss_then_index():
    acc = np.array([0.5, 0.9, 0.9, 0.7])
    loss = np.array([0.1, 0.4, 0.3, 0.2])
    assert rank_heads(acc, loss).tolist() == [2, 1, 3, 0]
    allowed = np.array([True, False, True, True])
    assert rank_heads(acc, loss, allowed).tolist() == [2, 3, 0]


def test_mass_mean_direction_and_sigma_by_hand():
    x = np.array([[[3.0, 4.0]], [[1.0, 0.0]], [[0.0, 0.0]], [[-2.0, 0.0]]])  # [n=4, P=1, d=2]
    y = np.array([1, 1, 0, 0])
    direction, sigma = mass_mean_directions(x, y)
    # means: label1 (2, 2), label0 (-1, 0): diff (3, 2), unit (3, 2)/sqrt(13)
    np.testing.assert_allclose(direction[0], np.array([3.0, 2.0]) / np.sqrt(13))
    proj = np.array([17.0, 3.0, 0.0, -6.0]) / np.sqrt(13)
    np.testing.assert_allclose(sigma[0], proj.std())


def test_fold_through_wo_by_hand():
    w_o = {2: np.arange(12, dtype=float).reshape(3, 4)}  # n_embd 3, 2 heads of head_dim 2
    heads = [(2, 1), (2, 0)]
    disp = np.array([[1.0, -1.0], [0.5, 0.0]])
    vectors = fold_through_wo(heads, disp, lambda layer: w_o[layer], head_dim=2)
    expected = w_o[2][:, 2:4] @ disp[0] + w_o[2][:, 0:2] @ disp[1]
    assert list(vectors) == [2]
    np.testing.assert_allclose(vectors[2], expected)


def test_fit_pas_finds_the_planted_head():
    rng = np.random.default_rng(1)
    n, n_layer, n_head, hd = 60, 3, 2, 4
    agree = rng.normal(size=(n, n_layer, n_head, hd)).astype(np.float32)
    disagree = rng.normal(size=(n, n_layer, n_head, hd)).astype(np.float32)
    answers = {i + 1: (5 if i % 2 else 1) for i in range(n)}
    labels = person_labels(answers, list(range(1, n + 1)))
    side = np.where(labels.agrees, 1.0, -1.0)[:, None]
    # plant the person's side at layer 2 head 1, dimension 0, and (stronger) at layer 0 head 0
    agree[:, 2, 1, 0] += 3 * side[:, 0]
    disagree[:, 2, 1, 0] -= 3 * side[:, 0]
    agree[:, 0, 0, 0] += 5 * side[:, 0]
    disagree[:, 0, 0, 0] -= 5 * side[:, 0]
    w_o = {layer: rng.normal(size=(5, n_head * hd)) for layer in range(n_layer)}
    fit = fit_pas(agree, disagree, labels, k=1, attn_output_weight=lambda layer: w_o[layer], min_layer=1)
    assert fit.heads == [(2, 1)]  # layer 0 is not eligible (llama.cpp cannot steer block 0)
    assert fit.directions[0][0] > 0.9
    np.testing.assert_allclose(
        fit.layer_vectors[2], w_o[2][:, 4:8] @ (fit.sigmas[0] * fit.directions[0]), rtol=1e-5
    )
    assert list(fit.placed(1)) == [1]


def test_statement_contrast_finds_the_head_that_tells_agreed_from_rejected_statements():
    rng = np.random.default_rng(2)
    n, n_layer, n_head, hd = 80, 3, 2, 4
    acts = rng.normal(size=(n, n_layer, n_head, hd)).astype(np.float32)
    answers = {i + 1: (4 if i % 3 else 2) for i in range(n)}
    labels = person_labels(answers, list(range(1, n + 1)))
    acts[labels.rows[labels.agrees], 1, 0, 2] += 2.5  # the content the person agrees with lives here
    w_o = {layer: rng.normal(size=(5, n_head * hd)) for layer in range(n_layer)}
    fit = fit_pas_statements(acts, labels, k=1, attn_output_weight=lambda layer: w_o[layer], min_layer=1)
    assert fit.heads == [(1, 0)]
    # mass-mean direction by hand: mean of agreed statements minus mean of rejected ones, normalised
    x = acts[labels.rows][:, 1, 0].astype(np.float64)
    diff = x[labels.agrees].mean(0) - x[~labels.agrees].mean(0)
    np.testing.assert_allclose(fit.directions[0], diff / np.linalg.norm(diff), rtol=1e-6)
    sigma = (x @ (diff / np.linalg.norm(diff))).std()
    np.testing.assert_allclose(fit.sigmas[0], sigma, rtol=1e-6)
    np.testing.assert_allclose(fit.layer_vectors[1], w_o[1][:, 0:4] @ (sigma * fit.directions[0]), rtol=1e-5)


def test_residual_fit_picks_the_block_that_separates_and_takes_the_mean_difference():
    rng = np.random.default_rng(3)
    n, blocks, d = 60, 4, 6
    agree = rng.normal(size=(n, blocks, d)).astype(np.float32)
    disagree = rng.normal(size=(n, blocks, d)).astype(np.float32)
    answers = {i + 1: (5 if i % 3 else 2) for i in range(n)}
    labels = person_labels(answers, list(range(1, n + 1)))
    side = np.where(labels.agrees, 1.0, -1.0)
    agree[:, 2, 1] += 2 * side  # block first+2 tells the person's side from the other
    disagree[:, 2, 1] -= 2 * side
    agree[:, 3, 4] += 9 * side  # block first+3 is stronger but beyond last_block
    disagree[:, 3, 4] -= 9 * side
    fit = fit_residual(agree, disagree, labels, first_block=10, last_block=12)
    assert fit.block == 12 and len(fit.val_accuracy) == 3
    assert fit.val_accuracy[2] == max(fit.val_accuracy) and fit.val_accuracy[2] > 0.9
    # by hand: the person's side minus the other side, over every labelled item, at that block
    mine = np.where(labels.agrees[:, None], agree[:, 2], disagree[:, 2])
    other = np.where(labels.agrees[:, None], disagree[:, 2], agree[:, 2])
    np.testing.assert_allclose(fit.vector, mine.mean(0) - other.mean(0), rtol=1e-5, atol=1e-6)
    assert fit.vector[1] > 3.5
    assert list(fit.placed()) == [12]
