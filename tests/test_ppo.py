"""PPO: the paper's reward, reply log-probabilities, and training that raises a subject's expected reward."""

from __future__ import annotations

import math

import pytest
import torch

from paso_local.converters.ppo import (
    UNPARSABLE_REWARD,
    PPOSettings,
    ReplyParser,
    expected_reward,
    reference_logprobs,
    reply_logprob,
    reply_values,
    reward,
    sample_replies,
    train_ppo,
)


def test_reward_is_minus_the_distance_and_minus_six_when_unparsable():
    assert reward(5, 5) == 0.0
    assert reward(1, 5) == -4.0
    assert reward(3, 4) == -1.0
    assert reward(None, 3) == UNPARSABLE_REWARD == -6.0


def test_reply_logprob_adds_the_second_token_only_after_the_paren():
    logp1 = torch.log(torch.tensor([[0.5, 0.3, 0.2]]))
    logp2 = torch.log(torch.tensor([[0.1, 0.6, 0.3]]))
    t1 = torch.tensor([[2, 0]])  # token 2 is the paren here
    t2 = torch.tensor([[1, -1]])
    got = reply_logprob(logp1, logp2, t1, t2)
    assert got[0, 0].item() == pytest.approx(math.log(0.2 * 0.6))
    assert got[0, 1].item() == pytest.approx(math.log(0.5))


def test_sampling_gives_a_second_token_only_after_the_paren():
    logp1 = torch.log(torch.tensor([[0.5, 0.0, 0.5]]).clamp(min=1e-30))
    logp2 = torch.log(torch.tensor([[0.0, 1.0, 0.0]]).clamp(min=1e-30))
    t1, t2 = sample_replies(
        logp1, logp2, paren_token=2, samples=64, generator=torch.Generator().manual_seed(0)
    )
    assert set(t1.flatten().tolist()) == {0, 2}
    assert bool(((t1 == 2) == (t2 == 1)).all()) and bool((t2[t1 == 0] == -1).all())


@pytest.fixture(scope="module")
def smol(smollm2_path):
    from paso_local.converters.lora import OptionIndex, open_training_model, prepare_inputs
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.readout import OptionTokens
    from paso_local.person.inventory import form_items

    chat_format = ChatFormat.from_model(smollm2_path)
    options = OptionTokens.from_chat_format(chat_format)
    model = open_training_model(smollm2_path)
    items = form_items("120")[:16]
    inputs = prepare_inputs(model, chat_format, items, options)
    return chat_format, options, OptionIndex(options), model, items, inputs


def test_parser_reads_replies_like_eval(smol):
    chat_format, options, *_ = smol
    parser = ReplyParser(chat_format.detokenize)
    letter = {c: chat_format.tokenize(c) for c in "ABE"}
    assert all(len(t) == 1 for t in letter.values())
    assert parser(options.paren_token, letter["A"][0]) == 5
    assert parser(options.paren_token, letter["E"][0]) == 1
    assert parser(letter["B"][0], -1) == 4
    hello = chat_format.tokenize("Hello")
    assert len(hello) == 1 and parser(hello[0], -1) is None


def test_training_raises_the_expected_reward(smol, papi_dev):
    from paso_local.converters.lora import LoraAdapter, LoraConfig, answer_logprobs
    from paso_local.evaluation.split import split_subject
    from paso_local.person.subjects import load_subjects

    chat_format, options, _, model, items, inputs = smol
    subject = split_subject(load_subjects(papi_dev)[0])
    numbers = [i.number for i in items if subject.alignment[i.number]]
    answers = torch.tensor([subject.alignment[n] for n in numbers])
    parser = ReplyParser(chat_format.detokenize)
    values = reply_values(parser, chat_format.n_vocab, options.paren_token)
    adapter = LoraAdapter.create(model, LoraConfig(), seed=0)
    rows = inputs.rows(numbers)

    def mean_expected() -> float:
        with torch.no_grad(), adapter.attached(model):
            return float(
                expected_reward(
                    *answer_logprobs(model, inputs, rows), answers, values, options.paren_token
                ).mean()
            )

    before = mean_expected()
    rewards = train_ppo(
        model,
        adapter,
        inputs,
        subject.alignment,
        numbers,
        reference_logprobs(model, inputs),
        parser,
        options.paren_token,
        PPOSettings(iterations=3, lr=3e-3),
    )
    after = mean_expected()
    assert len(rewards) == 3 and all(-6.0 <= r <= 0.0 for r in rewards)
    assert after > before + 0.05
