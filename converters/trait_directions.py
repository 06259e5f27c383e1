"""Candidate model-level directions per Big Five domain, for the trait-content screen (paso_local.evaluation.trait_screen).

Every candidate is built from the 120-form items only (never the 180 held-out statements) and from no
person's answers: the labels are the items' public IPIP key within a domain (+keyed: agreeing means more of
the trait). A candidate is one direction per domain, block -> vector [n_embd], in the units it was read in;
`unit_directions` rescales it to align's strength units (paso_local.converters.strength.to_unit).

- statement reading (`statement_features`): block outputs averaged over the statement's tokens when the
  model SAYS the item in the first person (the assistant's turn: "I worry about things.") or READS it (the
  user's turn); direction = mean over the domain's +keyed items - mean over its -keyed items (the
  mean-difference construction of Blas, Jia & Ferrara 2026), at one block or a band of blocks;
- pair PCA (`pca_pair_direction`): the first principal component of the +keyed minus -keyed pair
  differences (repeng's pca_diff), signed and scaled like the mean difference;
- head probe (`head_probe_directions`): PAS's own machinery turned to traits: a probe per attention head on
  the item's key within the domain, from the heads' inputs at the statement's last token, top-K heads,
  mass-mean directions folded through W_o;
- persona (`persona_answer_features`, `persona_reply_features`): a system prompt describing the domain's high
  pole against one describing its low pole (written from the NEO facet names, `PERSONA_POLES`), read at the
  answer position of the 120-form questions, or over the model's own replies to neutral questions
  (Chen et al. 2025, persona vectors).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from paso_local.converters.activations import pad_right
from paso_local.converters.hooks import record_block_span_means
from paso_local.converters.statement_activations import SELF_QUESTION, self_statement
from paso_local.converters.strength import to_unit
from paso_local.person.inventory import DOMAINS, Item
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT, item_messages
from paso_local.progress import progress_bar

ROWS_PER_BATCH = 32  # fewer batches: a model larger than the weight cache re-reads its blocks per batch
VOICES = ("says", "reads")
READ_QUESTION = "Here is something I say about myself."

# One sentence per pole, written from the six NEO facet names of each domain (not from any item).
PERSONA_POLES: dict[str, tuple[str, str]] = {
    "A": (
        "You are very agreeable: you trust people, you are honest and never take advantage of anyone, you "
        "love to help, you avoid conflict, you are modest about yourself and you feel deep sympathy for others.",
        "You are very disagreeable: you distrust people, you bend the rules to get ahead, you do not care to "
        "help, you like a fight, you think highly of yourself and you feel little sympathy for others.",
    ),
    "C": (
        "You are very conscientious: you are capable, tidy and organised, you keep your promises and follow "
        "the rules, you work hard to excel, you get tasks done at once and you think before you act.",
        "You are very unconscientious: you doubt your abilities, you are messy and disorganised, you break "
        "promises and rules, you do just enough to get by, you put work off and you act without thinking.",
    ),
    "E": (
        "You are very extraverted: warm and friendly, you love crowds and company, you take charge, you are "
        "always busy and on the go, you seek excitement and you are cheerful and full of joy.",
        "You are very introverted: reserved and distant, you prefer to be alone, you let others lead, you "
        "take life slowly, you avoid noise and excitement and you are seldom joyful or enthusiastic.",
    ),
    "N": (
        "You are very neurotic: you are anxious and worry a lot, you anger easily, you often feel sad and "
        "down, you are self-conscious, you give in to cravings and you fall apart under stress.",
        "You are emotionally very stable: calm and rarely worried, slow to anger, seldom sad, at ease with "
        "others, you resist temptation easily and you stay composed under stress.",
    ),
    "O": (
        "You are very open to experience: you have a vivid imagination, you love art and beauty, you feel "
        "your emotions deeply, you seek new things, you enjoy abstract ideas and you question tradition.",
        "You are very closed to experience: down-to-earth and practical, art does not interest you, you "
        "seldom notice your feelings, you prefer routine, you avoid abstract ideas and you respect tradition.",
    ),
}

NEUTRAL_QUESTIONS = (
    "How do you like to spend a free evening?",
    "Tell me about a typical day for you.",
    "How do you deal with a problem at work?",
    "What do you think about meeting new people?",
    "How do you make a big decision?",
    "What is your attitude towards rules?",
    "How do you react when plans change suddenly?",
    "What do you do when a friend needs help?",
)


@dataclass(frozen=True)
class SpanFeatures:
    """Per row, per block: the block output averaged over a span of the row's tokens."""

    means: np.ndarray  # float32 [N, n_layer, D]
    residual_norm: np.ndarray  # float64 [n_layer]: mean |block output| at positions >= 1, over all rows


@dataclass(frozen=True)
class Row:
    tokens: list[int]
    start: int  # the span read is tokens[start:end]
    end: int


def span_features(model: Any, rows: Sequence[Row], pad: int, title: str) -> SpanFeatures:
    """One torch pass over `rows` (right-padded batches), every block's output averaged over each row's span."""
    n_layer = model.config.n_layer
    means = np.zeros((len(rows), n_layer, model.config.n_embd), dtype=np.float32)
    norms = np.zeros((len(rows), n_layer))
    with progress_bar(title, len(rows)) as bar:
        for first in range(0, len(rows), ROWS_PER_BATCH):
            batch = rows[first : first + ROWS_PER_BATCH]
            tokens, _ = pad_right([r.tokens for r in batch], pad)
            starts = torch.tensor([r.start for r in batch])
            ends = torch.tensor([r.end for r in batch])
            with torch.inference_mode(), record_block_span_means(model, starts, ends) as recorded:
                model.run_blocks(model.embed(tokens), 0, n_layer)
            for block, (mean, norm) in recorded.items():
                means[first : first + len(batch), block] = mean.numpy()
                norms[first : first + len(batch), block] = norm.numpy()
            bar.advance(len(batch))
    return SpanFeatures(means, norms.mean(axis=0))


def _span_row(chat_format: Any, messages: list[dict], said: str = "") -> Row:
    """The chat up to the assistant's turn (+ `said` as its start); the span is `said`'s tokens, or with
    nothing said, the prompt's last token (the answer position)."""
    text = chat_format.render(messages) + said
    if not said:
        tokens = chat_format.tokenize(text)
        return Row(tokens, len(tokens) - 1, len(tokens))
    return _row_with_span(chat_format, text, len(text) - len(said), len(text))


def _row_with_span(chat_format: Any, text: str, first: int, stop: int) -> Row:
    """`text` tokenized; the span: the tokens of characters first..stop-1 (prefix tokenizations measure it)."""
    tokens = chat_format.tokenize(text)
    start = len(chat_format.tokenize(text[:first]))
    end = len(chat_format.tokenize(text[:stop]))
    return Row(tokens, min(start, end - 1), end)


def statement_rows(chat_format: Any, items: Sequence[Item], voice: str) -> list[Row]:
    """Each item in the first person, said by the assistant or read in the user's turn; span: the statement."""
    rows = []
    for item in items:
        text = self_statement(item)
        if voice == "says":
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": SELF_QUESTION},
            ]
            rows.append(_span_row(chat_format, messages, text))
        else:
            messages = [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": f"{READ_QUESTION} {text}"},
            ]
            rendered = chat_format.render(messages)
            at = rendered.rindex(text)
            first = at - 1 if rendered[at - 1] == " " else at  # the space belongs to the first word's token
            rows.append(_row_with_span(chat_format, rendered, first, at + len(text)))
    return rows


def keyed_difference(values: np.ndarray, items: Sequence[Item], domain: str) -> np.ndarray:
    """mean over the domain's +keyed items - mean over its -keyed items (values: [N, ...] in item order)."""
    plus = np.array([i.domain == domain and i.plus_keyed for i in items])
    minus = np.array([i.domain == domain and not i.plus_keyed for i in items])
    return values[plus].mean(axis=0) - values[minus].mean(axis=0)


def pca_pair_direction(values: np.ndarray, items: Sequence[Item], domain: str) -> np.ndarray:
    """First principal component of every (+keyed, -keyed) pair difference of the domain (values [N, D]),
    centred; signed to agree with the mean difference and scaled to its length."""
    plus = values[[i.domain == domain and i.plus_keyed for i in items]]
    minus = values[[i.domain == domain and not i.plus_keyed for i in items]]
    diffs = (plus[:, None, :] - minus[None, :, :]).reshape(-1, values.shape[1]).astype(np.float64)
    mean = diffs.mean(axis=0)
    _, _, vt = np.linalg.svd(diffs - mean, full_matrices=False)
    pc = vt[0] * np.sign(vt[0] @ mean or 1.0)
    return (pc * np.linalg.norm(mean)).astype(np.float32)


def block_directions(
    features: SpanFeatures, items: Sequence[Item], blocks: Sequence[int], how: str = "mean"
) -> dict[str, dict[int, np.ndarray]]:
    """Per domain, per block: the keyed mean difference (how="mean") or the pair PCA (how="pca")."""
    out: dict[str, dict[int, np.ndarray]] = {}
    for domain in DOMAINS:
        out[domain] = {}
        for b in blocks:
            x = features.means[:, b]
            v = keyed_difference(x, items, domain) if how == "mean" else pca_pair_direction(x, items, domain)
            out[domain][b] = v.astype(np.float32)
    return out


def head_probe_directions(
    head_acts: np.ndarray,
    items: Sequence[Item],
    k: int,
    attn_output_weight: Any,
    min_layer: int,
    shift: int,
) -> dict[str, dict[int, np.ndarray]]:
    """Per domain: PAS's probe -> top-K heads -> mass-mean fold through W_o, with the item's key as the label
    (head_acts [N, n_layer, n_head, head_dim] at the statement's last token), placed `shift` blocks early."""
    from paso_local.converters.pas import Labels, fit_pas_statements

    out = {}
    for domain in DOMAINS:
        rows = np.array([r for r, i in enumerate(items) if i.domain == domain], dtype=np.int64)
        labels = Labels(rows, np.array([items[r].plus_keyed for r in rows]))
        fit = fit_pas_statements(head_acts, labels, k, attn_output_weight, min_layer)
        out[domain] = {b: v for b, v in fit.placed(shift).items() if b >= 1}
    return out


def persona_answer_rows(chat_format: Any, items: Sequence[Item], system_prompt: str) -> list[Row]:
    """The 120-form questions under `system_prompt`, read at the answer position (the prompt's last token)."""
    return [_span_row(chat_format, item_messages(item, system_prompt)) for item in items]


def persona_reply_rows(chat_format: Any, system_prompt: str, replies: Sequence[str]) -> list[Row]:
    """Each neutral question under `system_prompt` with the model's own reply under it; span: the reply."""
    rows = []
    for question, reply in zip(NEUTRAL_QUESTIONS, replies, strict=True):
        messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": question}]
        rows.append(_span_row(chat_format, messages, reply))
    return rows


def pole_difference(high: SpanFeatures, low: SpanFeatures, blocks: Sequence[int]) -> dict[int, np.ndarray]:
    """Mean over rows of the high pole's features - the low pole's, per block."""
    return {b: (high.means[:, b].mean(0) - low.means[:, b].mean(0)).astype(np.float32) for b in blocks}


def unit_directions(
    directions: Mapping[str, Mapping[int, np.ndarray]], residual_norm: np.ndarray
) -> dict[str, dict[int, np.ndarray]]:
    """Each domain's vector rescaled to align's strength units (sum_b |v_b| = the blocks' mean residual norm)."""
    return {d: to_unit(v, residual_norm) for d, v in directions.items() if v}


def cosine_table(directions: Mapping[str, Mapping[int, np.ndarray]]) -> dict[str, dict[str, float]]:
    """Cosine between domains' directions (all blocks concatenated): are they five traits or one axis?"""
    flat = {d: np.concatenate([v[b] for b in sorted(v)]) for d, v in directions.items() if v}
    out: dict[str, dict[str, float]] = {}
    for a, va in flat.items():
        out[a] = {}
        for b, vb in flat.items():
            if va.shape == vb.shape:
                denom = float(np.linalg.norm(va) * np.linalg.norm(vb)) or 1.0
                out[a][b] = round(float(va @ vb) / denom, 3)
    return out
