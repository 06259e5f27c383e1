"""Reading a model's questionnaire answer from its next-token distributions (pure numpy: no torch here).

Models start the answer differently: "A", " A", "(A" or "(A)" as one token, or "(" and then the letter
(SmolLM2 puts about half its probability on "("). So each option's probability is marginalised over the ways
it can start:

    P(option) = P1(tokens that name the option at once) + P1("(") * P2(letter tokens | "(")

where P1 is the next-token distribution at the answer position and P2 the distribution after the "(" token.
Both come from ONE forward pass of the prompt with "(" appended: P1 at the last prompt token, P2 at the "(".

Distributions here are over the answer VALUES 1..5 (index v - 1), so letter A (value 5) is index 4. The
default statistic is the median of that distribution: it minimises the expected absolute error, which the
Aligned Score measures. `mass` is the probability the model left on the five options at all (watch it under
steering).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.person.questionnaire_prompt import LETTER_VALUE

_DIRECT = re.compile(r"^\s*\(?([A-E])(?:\)|\.|\)\.|\):)?$")  # "A", " A", "(A", "(A)", "A.", "(A)."
_AFTER_PAREN = re.compile(r"^\s*([A-E])(?:\)|\.|\)\.|\):)?$")  # after "(": "A", "A)", "A)."
_PAREN = re.compile(r"^\s*\($")
STATISTICS = ("median", "expected", "argmax")
DEFAULT_STATISTIC = "median"


@dataclass(frozen=True)
class OptionTokens:
    """Token ids that start each answer, built once per vocabulary. `*_value` hold the answer (1..5) per id"""

    direct_ids: np.ndarray
    direct_value: np.ndarray
    paren_ids: np.ndarray
    after_paren_ids: np.ndarray
    after_paren_value: np.ndarray
    paren_token: int  # the "(" token appended to the prompt to read P2

    @classmethod
    def from_pieces(cls, pieces: Sequence[str | bytes], paren_token: int | None = None) -> OptionTokens:
        """Scan a vocabulary given as one text piece per token id."""
        direct, direct_v, paren, after, after_v = [], [], [], [], []
        for token, piece in enumerate(pieces):
            if isinstance(piece, bytes):
                piece = piece.decode("utf-8", errors="replace")
            if m := _DIRECT.match(piece):
                direct.append(token)
                direct_v.append(LETTER_VALUE[m.group(1)])
            if m := _AFTER_PAREN.match(piece):
                after.append(token)
                after_v.append(LETTER_VALUE[m.group(1)])
            if _PAREN.match(piece):
                paren.append(token)
        if not paren or len(set(direct_v)) < 5:
            raise ValueError("the vocabulary lacks tokens for the answer letters A..E or for '('")
        if paren_token is None:
            exact = [t for t in paren if _piece(pieces[t]) == "("]
            paren_token = exact[0] if exact else paren[0]
        as_ids = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
        return cls(
            as_ids(direct), as_ids(direct_v), as_ids(paren), as_ids(after), as_ids(after_v), int(paren_token)
        )

    @classmethod
    def from_chat_format(cls, chat_format: object) -> OptionTokens:
        """From a paso_local.llm.chat_format.ChatFormat (its vocabulary and tokenizer)."""
        pieces = [chat_format.token_to_piece(t) for t in range(chat_format.n_vocab)]
        paren = chat_format.tokenize("(")
        return cls.from_pieces(pieces, paren_token=paren[0] if len(paren) == 1 else None)


def _piece(piece: str | bytes) -> str:
    return piece.decode("utf-8", errors="replace") if isinstance(piece, bytes) else piece


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _sum_by_value(probs: np.ndarray, ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.zeros(probs.shape[:-1] + (5,), dtype=np.float64)
    for v in range(1, 6):
        out[..., v - 1] = probs[..., ids[values == v]].sum(axis=-1)
    return out


def option_distribution(
    first_logits: np.ndarray, after_paren_logits: np.ndarray, tokens: OptionTokens
) -> tuple[np.ndarray, np.ndarray]:
    """(dist [...,5] over values 1..5 summing to 1,mass [...] left on the options) from raw logits [..., V]"""
    p1 = np.exp(log_softmax(first_logits))
    p2 = np.exp(log_softmax(after_paren_logits))
    p_paren = p1[..., tokens.paren_ids].sum(axis=-1, keepdims=True)
    raw = _sum_by_value(p1, tokens.direct_ids, tokens.direct_value)
    raw = raw + p_paren * _sum_by_value(p2, tokens.after_paren_ids, tokens.after_paren_value)
    mass = raw.sum(axis=-1)
    dist = raw / np.maximum(mass, 1e-30)[..., None]
    return dist, mass


def median_answer(dist: np.ndarray) -> np.ndarray:
    """The smallest value v with P(answer <= v) >= 1/2 (a median: minimises the expected absolute error)."""
    cdf = np.cumsum(np.asarray(dist, dtype=np.float64), axis=-1)
    return (cdf < 0.5 - 1e-12).sum(axis=-1) + 1


def expected_answer(dist: np.ndarray) -> np.ndarray:
    return np.asarray(dist, dtype=np.float64) @ np.arange(1, 6, dtype=np.float64)


def argmax_answer(dist: np.ndarray) -> np.ndarray:
    return np.argmax(dist, axis=-1) + 1


_STATISTIC_FUNCS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "median": median_answer,
    "expected": expected_answer,
    "argmax": argmax_answer,
}


def answer_statistic(dist: np.ndarray, statistic: str = DEFAULT_STATISTIC) -> np.ndarray:
    """The answer (1..5) read from option distributions by `statistic` (median, expected or argmax)."""
    try:
        return _STATISTIC_FUNCS[statistic](dist)
    except KeyError:
        raise ValueError(f"unknown statistic {statistic!r}: choose one of {', '.join(STATISTICS)}") from None
