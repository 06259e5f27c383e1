"""The judge: a local GGUF model rates a reply 1..6 on the rubric, read from its next-token distribution.

The rating is never parsed from generated text. As for the questionnaire's letters (paso_local.llm.readout), a
model can start a digit as "1", " 1", "(1" or "(" and then "1", so each rating's probability is marginalised
over those starts from ONE pass of the judge's prompt with "(" appended:

    P(rating r) = P1(tokens that name r at once) + P1("(") * P2(digit r | "(")

`probs` holds those six probabilities (their sum is the `mass` the judge put on the ratings at all); the
rating distribution is `probs / mass`, from which the expected value and the median are read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.assessment.models import LoadedModel
from paso_local.assessment.prompts import RATINGS, judge_messages
from paso_local.errors import PasoError
from paso_local.llm.readout import log_softmax
from paso_local.person.inventory import Item, held_out_items

_DIRECT = re.compile(r"^\s*\(?([1-6])(?:\)|\.|\)\.|:)?$")  # "1", " 1", "(1", "(1)", "1.", "1:"
_AFTER_PAREN = re.compile(r"^\s*([1-6])(?:\)|\.|\)\.)?$")
_PAREN = re.compile(r"^\s*\($")
N_RATINGS = len(RATINGS)
SKIP_JUDGE_CONTEXT = "judge context"  # the judge's prompt with this reply does not fit its context


@dataclass(frozen=True)
class RatingTokens:
    """Token ids that start each rating 1..6, from one scan of the judge's vocabulary."""

    direct_ids: np.ndarray
    direct_value: np.ndarray
    after_paren_ids: np.ndarray
    after_paren_value: np.ndarray
    paren_ids: np.ndarray
    paren_token: int

    @classmethod
    def from_pieces(cls, pieces: Sequence[str], paren_token: int | None = None) -> RatingTokens:
        direct, direct_v, after, after_v, paren = [], [], [], [], []
        for token, piece in enumerate(pieces):
            if m := _DIRECT.match(piece):
                direct.append(token)
                direct_v.append(int(m.group(1)))
            if m := _AFTER_PAREN.match(piece):
                after.append(token)
                after_v.append(int(m.group(1)))
            if _PAREN.match(piece):
                paren.append(token)
        if not paren or len(set(direct_v)) < N_RATINGS:
            raise ValueError("the vocabulary lacks tokens for the digits 1..6 or for '('")
        if paren_token is None:
            exact = [t for t in paren if pieces[t] == "("]
            paren_token = exact[0] if exact else paren[0]
        ids = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
        return cls(ids(direct), ids(direct_v), ids(after), ids(after_v), ids(paren), int(paren_token))

    @classmethod
    def from_chat_format(cls, chat_format: object) -> RatingTokens:
        pieces = [chat_format.token_to_piece(t) for t in range(chat_format.n_vocab)]
        paren = chat_format.tokenize("(")
        return cls.from_pieces(pieces, paren_token=paren[0] if len(paren) == 1 else None)


def _by_rating(probs: np.ndarray, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(probs.shape[:-1] + (N_RATINGS,), dtype=np.float64)
    for r in RATINGS:
        out[..., r - 1] = probs[..., ids[values == r]].sum(axis=-1)
    return out


def rating_probabilities(
    first_logits: np.ndarray, after_paren_logits: np.ndarray, tokens: RatingTokens
) -> np.ndarray:
    """[..., 6]: the probability the judge puts on each rating (unnormalised: the sum is its mass)."""
    p1 = np.exp(log_softmax(first_logits))
    p2 = np.exp(log_softmax(after_paren_logits))
    p_paren = p1[..., tokens.paren_ids].sum(axis=-1, keepdims=True)
    direct = _by_rating(p1, tokens.direct_ids, tokens.direct_value)
    return direct + p_paren * _by_rating(p2, tokens.after_paren_ids, tokens.after_paren_value)


@dataclass(frozen=True)
class Judgement:
    """One rating: the six probabilities (None when skipped, with the reason)."""

    probs: tuple[float, ...] | None
    skip: str | None = None

    @property
    def mass(self) -> float:
        return float(sum(self.probs)) if self.probs else 0.0

    @property
    def dist(self) -> np.ndarray:
        raw = np.asarray(self.probs, dtype=np.float64)
        return raw / max(raw.sum(), 1e-30)

    @property
    def expected(self) -> float:
        return float(self.dist @ np.arange(1, N_RATINGS + 1))

    @property
    def median(self) -> int:
        return int((np.cumsum(self.dist) < 0.5 - 1e-12).sum() + 1)

    def as_json(self) -> dict:
        return {"probs": [round(p, 6) for p in self.probs] if self.probs else None, "skip": self.skip}

    @classmethod
    def from_json(cls, data: dict) -> Judgement:
        probs = data.get("probs")
        return cls(tuple(float(p) for p in probs) if probs else None, data.get("skip"))


@dataclass(frozen=True)
class JudgeRequest:
    item: Item
    target: int  # the person's answer 1..5
    reply: str


class Judge:
    """Rates replies through one loaded model, unsteered (the steering of a shared runtime is cleared)."""

    def __init__(self, model: LoadedModel):
        chat_format = model.runtime.chat_format
        if not chat_format.has_template:
            raise PasoError(
                f"the judge {model.path.name} has no chat template (GGUF key tokenizer.chat_template): it "
                "cannot be told the rubric as a conversation. Give --judge an instruction-tuned GGUF that "
                "carries its template."
            )
        try:
            self.tokens = RatingTokens.from_chat_format(chat_format)
        except ValueError as exc:
            raise PasoError(f"the judge {model.path.name} cannot give a rating: {exc}") from exc
        self.model = model
        self._check_rubric_fits()

    def _check_rubric_fits(self) -> None:
        """Refuse, before any work, a judge whose context cannot hold the rubric and a statement."""
        longest = max(held_out_items(), key=lambda i: len(i.text))
        tokens = self._prompt(JudgeRequest(longest, 5, ""))
        if not self.model.fits(len(tokens)):
            raise PasoError(
                f"the judge's prompt (the rubric and a statement, without a reply) is {len(tokens)} tokens, "
                f"too long for the judge's {self.model.n_ctx}-token context; raise --judge-n-ctx or use a "
                "judge with a longer context"
            )

    def _prompt(self, request: JudgeRequest) -> list[int]:
        encode = self.model.runtime.chat_format.encode_chat
        return list(encode(judge_messages(request.item, request.target, request.reply))) + [
            self.tokens.paren_token
        ]

    def rate(self, requests: Sequence[JudgeRequest]) -> list[Judgement]:
        """One Judgement per request, in order; a prompt the judge's context cannot hold is a counted skip."""
        self.model.runtime.set_vector_directions(None)
        rows, logits = self.model.read_ends([self._prompt(r) for r in requests])
        out = [Judgement(None, SKIP_JUDGE_CONTEXT) for _ in requests]
        if rows:
            probs = rating_probabilities(logits[:, 0], logits[:, 1], self.tokens)
            for k, row in zip(rows, probs, strict=True):
                out[k] = Judgement(tuple(float(p) for p in row))
        return out
