"""The open-ended assessment's parts: the judge's rating readout (hand vocabularies, then a tiny GGUF through
the real runtime), its refusals, the validation's AUC and its flag on a judge that rates at random, the
repetition and empty rules, and the NLL of a reply."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.assessment.coherence import is_empty, is_repetitive, reply_nll
from paso_local.assessment.judge import (
    SKIP_JUDGE_CONTEXT,
    Judge,
    Judgement,
    JudgeRequest,
    RatingTokens,
    rating_probabilities,
)
from paso_local.assessment.models import open_model
from paso_local.assessment.validation import MIN_AUC, Validation, auc, validate_judge
from paso_local.errors import PasoError
from paso_local.person.inventory import held_out_items

ITEMS = held_out_items()[:3]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture(scope="module")
def tiny_judge(tiny):
    model = open_model(tiny, n_ctx=2048, threads=1)
    yield Judge(model)
    model.close()


# --- the readout on hand-made vocabularies -----------------------------------------------------------------

PIECES = ["x", "1", " 2", "(3", "4)", "5.", "6", "(", " (", "7", "12", "  6", "a"]


def test_rating_tokens_find_every_way_a_rating_starts():
    tokens = RatingTokens.from_pieces(PIECES)
    direct = dict(zip(tokens.direct_ids.tolist(), tokens.direct_value.tolist(), strict=True))
    assert direct == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 11: 6}  # "7" and "12" are not ratings
    assert sorted(tokens.paren_ids.tolist()) == [7, 8] and tokens.paren_token == 7
    assert 3 not in tokens.after_paren_ids.tolist()  # "(3" cannot follow "("


def test_rating_tokens_refuse_a_vocabulary_without_the_digits():
    with pytest.raises(ValueError, match="1..6"):
        RatingTokens.from_pieces(["1", "2", "3", "(", "x"])


def test_rating_probabilities_marginalise_over_the_paren():
    tokens = RatingTokens.from_pieces(PIECES)
    rng = np.random.default_rng(0)
    first, after = rng.standard_normal(len(PIECES)), rng.standard_normal(len(PIECES))
    probs = rating_probabilities(first, after, tokens)
    p1, p2 = np.exp(first) / np.exp(first).sum(), np.exp(after) / np.exp(after).sum()
    paren = p1[7] + p1[8]
    assert probs[5] == pytest.approx(p1[6] + p1[11] + paren * (p2[6] + p2[11]))
    assert probs[2] == pytest.approx(p1[3] + paren * 0.0)  # only "(3" names 3, and not after "("
    judgement = Judgement(tuple(probs))
    assert judgement.dist.sum() == pytest.approx(1.0) and judgement.mass == pytest.approx(probs.sum())


def test_expected_and_median_of_a_judgement():
    judgement = Judgement((0.0, 0.1, 0.1, 0.0, 0.2, 0.0))  # mass 0.4: dist 0, .25, .25, 0, .5, 0
    assert judgement.mass == pytest.approx(0.4)
    assert judgement.expected == pytest.approx(0.25 * 2 + 0.25 * 3 + 0.5 * 5)
    assert judgement.median == 3


# --- the readout through the real runtime on a tiny GGUF ----------------------------------------------------


def _softmax(logits):
    z = np.exp(logits - logits.max())
    return z / z.sum()


def test_judge_rating_is_the_mass_the_tiny_model_puts_on_the_digits(tiny_judge):
    """One pass of the judge's prompt: the six probabilities sum to the probability the model put on the
    digits (read here token by token with eval_tokens, apart from the batched path the judge uses)."""
    request = JudgeRequest(ITEMS[0], 4, "I do, most of the time.")
    [judgement] = tiny_judge.rate([request])
    runtime = tiny_judge.model.runtime
    prompt = tiny_judge._prompt(request)
    chat_format = runtime.chat_format
    digits = [chat_format.tokenize(str(r)) for r in range(1, 7)]
    assert all(len(d) == 1 for d in digits)
    paren = chat_format.tokenize("(")[0]
    assert prompt[-1] == paren
    runtime.reset()
    runtime.eval_tokens(prompt[:-1], after=0)
    p1 = _softmax(runtime.last_logits().astype(np.float64))
    runtime.eval_tokens([paren], after=len(prompt) - 1)
    p2 = _softmax(runtime.last_logits().astype(np.float64))
    expected = np.array([p1[d[0]] + p1[paren] * p2[d[0]] for d in digits])
    assert judgement.skip is None
    assert np.allclose(judgement.probs, expected, rtol=2e-3, atol=1e-6)
    assert sum(judgement.probs) == pytest.approx(expected.sum(), rel=2e-3)
    assert 0 < judgement.mass < 1 and 1 <= judgement.expected <= 6


def test_a_reply_that_overflows_the_judge_is_a_counted_skip(tiny_judge):
    long_reply = "I really do. " * 200  # about 2,600 byte tokens: more than the 2,048-token context
    short, overflow = tiny_judge.rate(
        [JudgeRequest(ITEMS[0], 2, "No."), JudgeRequest(ITEMS[1], 2, long_reply)]
    )
    assert short.probs is not None
    assert overflow.probs is None and overflow.skip == SKIP_JUDGE_CONTEXT


def test_a_judge_without_a_chat_template_is_refused(tmp_path):
    path = write_tiny_model(tmp_path / "plain.gguf", TinySpec(chat_template=None))
    model = open_model(path, n_ctx=2048, threads=1)
    try:
        with pytest.raises(PasoError, match="no chat template"):
            Judge(model)
    finally:
        model.close()


def test_a_judge_too_small_for_the_rubric_is_refused(tiny):
    model = open_model(tiny, n_ctx=512, threads=1)  # the rubric alone is ~900 byte tokens
    try:
        with pytest.raises(PasoError, match="too long for the judge's 512-token context"):
            Judge(model)
    finally:
        model.close()


# --- the validation ---------------------------------------------------------------------------------------


def test_auc_counts_ties_half():
    assert auc([3, 4], [1, 2]) == 1.0
    assert auc([1], [2]) == 0.0
    assert auc([2, 2], [2, 2]) == 0.5
    assert auc([3, 1], [2]) == 0.5
    assert auc([], [1]) is None


class RandomJudge:
    """Rates every reply with a random distribution over 1..6, whatever it says."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def rate(self, requests):
        return [Judgement(tuple(self.rng.dirichlet(np.ones(6)))) for _ in requests]


HIGH, LOW = (0, 0, 0, 0, 0.1, 0.9), (0.9, 0.1, 0, 0, 0, 0)


class KeywordJudge:
    """Rates 6 a reply on the person's side (it agrees and they said accurate, or the other way round), 1
    otherwise: a judge that works."""

    def rate(self, requests):
        return [Judgement(HIGH if ("agree" in r.reply) == (r.target >= 4) else LOW) for r in requests]


class StanceOnlyJudge:
    """Rates 6 what says it agrees, whatever the person answered: it reads the reply, not the match."""

    def rate(self, requests):
        return [Judgement(HIGH if "agree" in r.reply else LOW) for r in requests]


def write(item, stance):
    return f"I {stance} with that." if stance == "agree" else "That is not me at all."


def test_validation_flags_a_judge_that_rates_at_random():
    items = list(held_out_items()[:40])
    results = [validate_judge(items, write, RandomJudge(seed)) for seed in range(5)]
    assert all(r.weak for r in results)
    assert all(abs(r.gap) < 0.6 for r in results) and all(r.auc < MIN_AUC for r in results)
    summary = results[0].summary()
    assert summary["weak"] is True and summary["items"] == 40 and summary["min_auc"] == MIN_AUC


def test_validation_passes_a_judge_that_tells_the_stances_apart():
    validation = validate_judge(list(ITEMS), write, KeywordJudge())
    assert validation.auc == 1.0 and validation.inverse_auc == 1.0 and not validation.weak
    assert validation.gap == pytest.approx(5.9 - 1.1) and validation.inverse_gap == pytest.approx(5.9 - 1.1)
    assert validation.replies["agree"][0] == "I agree with that."
    assert Validation.from_json(validation.as_json()) == validation


def test_validation_flags_a_judge_that_ignores_the_persons_answer():
    validation = validate_judge(list(ITEMS), write, StanceOnlyJudge())
    assert validation.auc == 1.0 and validation.inverse_auc == 0.0  # the order does not turn
    summary = validation.summary()
    assert summary["weak"] is True and summary["inverse_auc"] == 0.0 and summary["inverse_gap"] < 0


def test_validation_with_every_rating_skipped_is_weak():
    class Skipping:
        def rate(self, requests):
            return [Judgement(None, SKIP_JUDGE_CONTEXT) for _ in requests]

    validation = validate_judge(list(ITEMS), write, Skipping())
    assert validation.auc is None and validation.weak and validation.summary()["skipped"] == 12


# --- coherence ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "I like it. I like it. I like it. I like it.",
        "no no no no no no",
        "Yes, I am the life of the party, the life of the party, the life of the party, always.",
        "I think that I think that I think that I think that",
    ],
)
def test_repetitive_replies(reply):
    assert is_repetitive(reply)


@pytest.mark.parametrize(
    "reply",
    [
        "I do worry about things. Most days I can set it aside, but deadlines keep me up at night.",
        "Not really. I like it. I like it.",  # a phrase twice is not a loop
        "Yes yes yes",  # too short for a 4-word run
        "",
    ],
)
def test_replies_that_are_not_repetitive(reply):
    assert not is_repetitive(reply)


@pytest.mark.parametrize("reply", ["", "   \n", "...", "!? -- **"])
def test_empty_replies(reply):
    assert is_empty(reply)


def test_short_replies_are_not_empty():
    assert not is_empty("No.") and not is_empty("42")


def test_reply_nll_on_the_tiny_model(tiny_judge):
    model = tiny_judge.model
    prompt = model.runtime.chat_format.encode_chat([{"role": "user", "content": "Hi"}])
    result = reply_nll(model, prompt, "the then")
    assert result.tokens == len(model.runtime.chat_format.llama.tokenize(b"the then", add_bos=False))
    assert result.nll > 0
    assert reply_nll(model, prompt, "").tokens == 0
    assert reply_nll(model, prompt, "x" * 3000) is None  # does not fit the context
