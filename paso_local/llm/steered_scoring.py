"""Questionnaire items scored under a control vector through llama.cpp: the numerics the chat runs.

The one place that puts a candidate vector on a llama.cpp context to read answers. align's cross-validation
(every contrast, site and keyed variant) and eval's distribution readout both score through `SteeredScorer`.
Per item the prompt is the paper's question in the model's chat template followed by "(" (see
`paso_local.llm.readout`): one decode gives the answer position's logits (P1) and the after-"(" logits (P2).
The tokens every item shares (system turn, start of the question) are decoded once per call; each item then
continues that prefix (one per `llama_decode` by default; several, as llama.cpp sequences, on request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.errors import PasoError
from paso_local.llm.readout import OptionTokens, expected_answer, median_answer, option_distribution
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT, Turn, item_messages

# Prompts per llama_decode. One: measured on SmolLM2 (benchmarks/steered_scoring.py), 16 prompts per decode
# were 1.2x SLOWER per item (in a unified KV cache every token attends, masked, to every sequence's cells) and
# moved an item's option probabilities by up to 0.06 with the lengths of its neighbours (their cells change
# llama.cpp's summation order); one prompt per decode is exactly the chat's single-sequence numerics, and an
# item's score depends on nothing but the item and the vector.
SCORING_SEQUENCES = 1
SCORING_BATCH_TOKENS = 512
SCORING_CONTEXT = 4096
MAX_KEPT_PROMPT_SETS = 64  # tokenised prompt sets kept (align's folds; eval's per-person contexts)


@dataclass(frozen=True)
class OptionScores:
    """Per item, in the order asked: the distribution over answers 1..5 and the mass left on the options."""

    numbers: tuple[int, ...]
    dist: np.ndarray  # float64 [N, 5]
    mass: np.ndarray  # float64 [N]

    @property
    def median(self) -> np.ndarray:
        return median_answer(self.dist)

    @property
    def expected(self) -> np.ndarray:
        return expected_answer(self.dist)


def common_prefix_length(sequences: Sequence[Sequence[int]], keep: int = 1) -> int:
    """Length of the longest token prefix all sequences share, leaving at least `keep` tokens of each (the
    positions whose logits are read: a lone sequence shares all but those)."""
    first = sequences[0]
    length = min(len(s) for s in sequences) - keep
    for seq in sequences[1:]:
        k = 0
        while k < length and seq[k] == first[k]:
            k += 1
        length = k
    return max(length, 0)


class SteeredScorer:
    """Scores items through one loaded `paso_local.llm.runtime.Runtime`; `per_batch` prompts per decode (0: as
    many as the runtime's n_seq_max allows). Reuse it: the vocabulary scan and the prompts' tokens are kept."""

    def __init__(self, runtime: object, *, per_batch: int = 0):
        self.runtime = runtime
        self.per_batch = per_batch
        self.options = OptionTokens.from_chat_format(runtime.chat_format)
        self._prompts: dict[tuple, list[list[int]]] = {}

    def readout_prompts(
        self, items: Sequence[Item], system_prompt: str = SYSTEM_PROMPT, turns: Sequence[Turn] = ()
    ) -> list[list[int]]:
        """Each item's question in the chat template (after any earlier turns), then "(": P1 is read at
        [-2], P2 at [-1]. Kept for the latest few prompt sets: eval asks each person's context once."""
        key = (system_prompt, tuple(turns), tuple(i.number for i in items))
        if key not in self._prompts:
            encode = self.runtime.chat_format.encode_chat
            paren = self.options.paren_token
            if len(self._prompts) >= MAX_KEPT_PROMPT_SETS:
                self._prompts.pop(next(iter(self._prompts)))
            self._prompts[key] = [
                list(encode(item_messages(i, system_prompt, turns))) + [paren] for i in items
            ]
        return self._prompts[key]

    def score(
        self,
        items: Sequence[Item],
        directions: Mapping[int, np.ndarray] | None,
        *,
        system_prompt: str = SYSTEM_PROMPT,
    ) -> OptionScores:
        """Option distributions of `items` with `directions` (block -> [n_embd], added to that block's
        output at every position, as llama.cpp applies `direction.L`) or unsteered (None)."""
        self.runtime.set_vector_directions(directions)
        return self.score_as_steered(items, system_prompt=system_prompt)

    def score_as_steered(
        self,
        items: Sequence[Item],
        *,
        system_prompt: str = SYSTEM_PROMPT,
        turns: Sequence[Turn] = (),
        on_done: Callable[[int], None] | None = None,
    ) -> OptionScores:
        """Option distributions under the runtime's current steering (e.g. a vector file it loaded);
        `on_done(n)` hears after each decode that n more items are scored."""
        if not items:
            return OptionScores((), np.zeros((0, 5)), np.zeros(0))
        return self.score_prompts(items, self.readout_prompts(items, system_prompt, turns), on_done)

    def score_prompts(
        self,
        items: Sequence[Item],
        prompts: Sequence[list[int]],
        on_done: Callable[[int], None] | None = None,
    ) -> OptionScores:
        """`score_as_steered` on prompts `readout_prompts` already encoded (a caller that checks their length
        first does not encode them twice)."""
        prefix = common_prefix_length(prompts, keep=2)  # P1 and P2 are read at the last two positions
        logits = self.runtime.batch_logits(
            prompts[0][:prefix], [p[prefix:] for p in prompts], 2, per_batch=self.per_batch, on_done=on_done
        )
        dist, mass = option_distribution(logits[:, 0], logits[:, 1], self.options)
        return OptionScores(tuple(i.number for i in items), dist, mass)


def open_scoring_runtime(
    model_path: object,
    *,
    threads: int | None = None,
    n_ctx: int = SCORING_CONTEXT,
    sequences: int = SCORING_SEQUENCES,
    kv_unified: bool = True,
    rpc_servers: tuple = (),
):
    """A llama.cpp runtime for scoring: `sequences` prompts per decode (1: the chat's own configuration; more:
    room for the prefix's sequence and theirs, in a unified KV cache or, `kv_unified=False`, a stream each)."""
    from paso_local.llm.runtime import Runtime

    if n_ctx < SCORING_BATCH_TOKENS:
        raise PasoError(f"a scoring context needs at least {SCORING_BATCH_TOKENS} tokens, not {n_ctx}")
    return Runtime.open(
        model_path,
        n_ctx=n_ctx,
        n_threads=threads,
        n_seq_max=1 if sequences <= 1 else sequences + 1,
        n_batch=max(SCORING_BATCH_TOKENS, 128 * sequences),
        kv_unified=kv_unified,
        rpc_servers=rpc_servers,
    )
