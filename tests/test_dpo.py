"""DPO: the pairs, the loss against a hand computation, and training that moves a subject's margins."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paso_local.converters.dpo import (
    DPOSettings,
    Pair,
    dpo_loss,
    pair_margins,
    preference_pairs,
    reference_option_logprobs,
    train_dpo,
)
from paso_local.converters.lora import (
    LoraAdapter,
    LoraConfig,
    OptionIndex,
    open_training_model,
    prepare_inputs,
)


def test_pairs_are_the_persons_side_against_the_opposite():
    answers = {1: 5, 2: 4, 3: 3, 4: 2, 5: 1, 6: 0}
    pairs = preference_pairs(answers, [1, 2, 3, 4, 5, 6, 7])
    assert pairs == [
        Pair(1, 5, 1),
        Pair(2, 4, 2),
        Pair(3, 3, 5),
        Pair(3, 3, 1),
        Pair(4, 2, 4),
        Pair(5, 1, 5),
    ]


def test_all_style_prefers_the_persons_answer_over_every_other_option():
    pairs = preference_pairs({1: 4, 2: 3, 3: 0}, [1, 2, 3], style="all")
    assert pairs == [Pair(1, 4, o) for o in (1, 2, 3, 5)] + [Pair(2, 3, o) for o in (1, 2, 4, 5)]
    with pytest.raises(ValueError, match="pair style"):
        preference_pairs({1: 4}, [1], style="ranked")


def test_loss_matches_a_hand_computation():
    # policy: log pi(chosen) = -1.0, log pi(rejected) = -2.0; reference: -1.5 and -1.0; beta 0.1
    # margin = 0.1 * ((-1.0 + 1.5) - (-2.0 + 1.0)) = 0.1 * 1.5 = 0.15; loss = log(1 + e^-0.15)
    loss, margin = dpo_loss(
        torch.tensor([-1.0, -3.0]),
        torch.tensor([-2.0, -1.0]),
        torch.tensor([-1.5, -2.0]),
        torch.tensor([-1.0, -1.0]),
        beta=0.1,
    )
    # second pair: 0.1 * ((-3 + 2) - (-1 + 1)) = -0.1; loss log(1 + e^0.1)
    expected = (math.log(1 + math.exp(-0.15)) + math.log(1 + math.exp(0.1))) / 2
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    np.testing.assert_allclose(margin.numpy(), [0.15, -0.1], atol=1e-6)
    assert float(dpo_loss(*(torch.zeros(1),) * 4, beta=0.5)[0]) == pytest.approx(math.log(2))


def test_gradient_raises_chosen_and_lowers_rejected():
    chosen = torch.tensor([-1.0], requires_grad=True)
    rejected = torch.tensor([-1.0], requires_grad=True)
    loss, _ = dpo_loss(chosen, rejected, torch.tensor([-1.0]), torch.tensor([-1.0]), beta=0.1)
    loss.backward()
    assert float(chosen.grad) == pytest.approx(-0.05)  # -beta * sigmoid(-0) = -0.05: descent raises it
    assert float(rejected.grad) == pytest.approx(0.05)


def test_training_moves_the_subjects_margins(smollm2_path, papi_dev):
    from paso_local.evaluation.split import split_subject
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.readout import OptionTokens
    from paso_local.person.inventory import form_items
    from paso_local.person.subjects import load_subjects

    chat_format = ChatFormat.from_model(smollm2_path)
    options = OptionTokens.from_chat_format(chat_format)
    index = OptionIndex(options)
    model = open_training_model(smollm2_path)
    items = form_items("120")[:16]
    inputs = prepare_inputs(model, chat_format, items, options)
    reference = reference_option_logprobs(model, inputs, index)
    subject = split_subject(load_subjects(papi_dev)[0])
    pairs = preference_pairs(subject.alignment, [i.number for i in items])
    assert len(pairs) >= 12
    adapter = LoraAdapter.create(model, LoraConfig(rank=4, alpha=8.0), seed=0)
    before = pair_margins(model, adapter, inputs, index, pairs, reference, beta=0.1)
    assert float(before.abs().max()) == 0.0  # zero-initialised B: the policy is the reference
    losses = train_dpo(model, adapter, inputs, index, pairs, reference, DPOSettings(epochs=3, lr=3e-3))
    after = pair_margins(model, adapter, inputs, index, pairs, reference, beta=0.1)
    assert losses[-1] < losses[0] < math.log(2) + 1e-6
    assert float(after.mean()) > 0.05  # the person's answers gained on their opposites
    assert (
        float((after > 0).float().mean()) > 0.6
    )  # most pairs (dev subject 0: above 0.75; the synthetic one: 0.67)
