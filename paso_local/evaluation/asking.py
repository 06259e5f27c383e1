"""Asking the 180 held-out items through llama.cpp, as the runtime runs the model (`paso_local.llm.runtime`).

Every item is the paper's question (`paso_local.person.questionnaire_prompt`) in the model's own chat template.
The tokens all items share (the system prompt: ~2k tokens for the few-shot prompt, and the start of the
question) are evaluated ONCE per system prompt and steering; each item then evaluates only its own suffix,
after cutting the KV cache back to the shared prefix (`Runtime.eval_tokens(suffix, after=prefix)`).
benchmarks/eval_speed.py measures this against re-evaluating every prompt and against save_state/load_state.

Per item, two readouts from the same forward passes:
- the five-option distribution (`paso_local.llm.readout`): P1 = next token after the prompt, P2 = next token
  after an appended "(", each option marginalised over the ways it can start. `expected` is its mean (used
  for the correlation), `median` its median (the `distribution` readout's answer).
- `generate`: greedy decoding (argmax of the logits, what temperature 0 does) of the reply, at most 15 new
  tokens like the paper, parsed like the paper's code: the first match of `[abcdeABCDE][^a-zA-Z]` (or a
  letter ending the reply) within the reply's first 12 characters. No match: the item is unparsable; it is
  counted and left out of that subject's Aligned Score, as the paper's code does (it scores only the parsed
  items).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from paso_local.errors import PasoError
from paso_local.llm.readout import expected_answer, median_answer, option_distribution
from paso_local.llm.steered_scoring import SteeredScorer, common_prefix_length
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import PARSE_WINDOW, Turn, item_messages, parse_reply

if TYPE_CHECKING:
    from paso_local.llm.runtime import Runtime

READOUTS = ("distribution", "generate")
MAX_NEW_TOKENS = 15  # the paper's max_new_tokens


@dataclass(frozen=True)
class ItemReading:
    number: int
    answer: float | None  # what the Aligned Score uses: the median, or the parsed letter (None: unparsable)
    expected: float  # mean of the five-option distribution (correlation)
    distribution: tuple[float, ...]  # P(answer = 1..5)
    mass: float  # probability the model left on the five options
    reply: str | None = None  # generate readout only


class Asker:
    """Asks items through one loaded `Runtime`; reuse it across subjects and methods (the vocabulary scan and
    the model load happen once)."""

    def __init__(self, runtime: Runtime, readout: str = "distribution"):
        if readout not in READOUTS:
            raise PasoError(f"--readout {readout!r}: choose one of {', '.join(READOUTS)}")
        self.runtime = runtime
        self.readout = readout
        self.chat_format = runtime.chat_format
        self.n_vocab = runtime.n_vocab  # a closed runtime is refused here, not at the first question
        self._n_ctx = int(runtime.info.n_ctx)
        self._scorer = SteeredScorer(runtime)
        self.options = self._scorer.options

    def _eval(self, tokens: Sequence[int], at: int) -> np.ndarray:
        """Cut the KV cache back to `at` tokens, evaluate `tokens` after them, return the last logits."""
        try:
            self.runtime.eval_tokens(tokens, after=at)
        except RuntimeError as exc:
            raise PasoError(f"llama.cpp failed while evaluating a question: {exc}") from exc
        return self.runtime.last_logits()

    def encode(
        self, system_prompt: str, items: Sequence[Item], turns: Sequence[Turn] = ()
    ) -> list[list[int]]:
        prompts = [self.chat_format.encode_chat(item_messages(item, system_prompt, turns)) for item in items]
        self._check_fits(max(len(p) for p in prompts))
        return prompts

    def _check_fits(self, longest: int) -> None:
        """Room for the longest question and a generated reply (the same bound for either readout)."""
        if longest + MAX_NEW_TOKENS + 2 > self._n_ctx:
            raise PasoError(
                f"a question is {longest} tokens long, too long for the {self._n_ctx}-token context; "
                "use a model with a longer context"
            )

    def ask(
        self,
        system_prompt: str,
        items: Sequence[Item],
        on_item: Callable[[], None] | None = None,
        turns: Sequence[Turn] = (),
    ) -> list[ItemReading]:
        """Ask every item under the runtime's current steering, after `turns` (earlier exchanges) if any;
        `on_item` is called after each (progress)."""
        if self.readout == "distribution":
            return self._ask_batched(system_prompt, items, on_item, turns)
        prompts = self.encode(system_prompt, items, turns)
        prefix = common_prefix_length(prompts)
        self.runtime.reset()
        if prefix:
            self._eval(prompts[0][:prefix], 0)
        readings = []
        for item, tokens in zip(items, prompts, strict=True):
            readings.append(self._ask_one(item, tokens, prefix))
            if on_item is not None:
                on_item()
        return readings

    def _ask_batched(
        self,
        system_prompt: str,
        items: Sequence[Item],
        on_item: Callable[[], None] | None,
        turns: Sequence[Turn] = (),
    ) -> list[ItemReading]:
        """The distribution readout through the steered scorer (the prompt tokens shared once, then each
        item after them); progress moves after each decode, not only when the whole group is read."""
        prompts = self._scorer.readout_prompts(items, system_prompt, turns)  # each ends in the appended "("
        self._check_fits(max(len(p) for p in prompts) - 1)
        scores = self._scorer.score_prompts(items, prompts, on_done=_repeat(on_item))
        medians, expected = scores.median, scores.expected
        readings = []
        for k, item in enumerate(items):
            readings.append(
                ItemReading(
                    number=item.number,
                    answer=float(medians[k]),
                    expected=float(expected[k]),
                    distribution=tuple(float(p) for p in scores.dist[k]),
                    mass=float(scores.mass[k]),
                )
            )
        return readings

    def _ask_one(self, item: Item, tokens: list[int], prefix: int) -> ItemReading:
        first = self._eval(tokens[prefix:], prefix)
        after_paren = self._eval([self.options.paren_token], len(tokens))
        dist, mass = option_distribution(first, after_paren, self.options)
        answer: float | None = float(median_answer(dist))
        reply = None
        if self.readout == "generate":
            reply = self._greedy_reply(first, after_paren, len(tokens))
            answer = parse_reply(reply)
            answer = None if answer is None else float(answer)
        return ItemReading(
            number=item.number,
            answer=answer,
            expected=float(expected_answer(dist)),
            distribution=tuple(float(p) for p in dist),
            mass=float(mass),
            reply=reply,
        )

    def _greedy_reply(self, first: np.ndarray, after_paren: np.ndarray, position: int) -> str:
        """Greedy continuation from the prompt's logits. The "(" already evaluated for the distribution is
        reused when greedy picks it too (the usual case on SmolLM2)."""
        produced: list[int] = []
        logits = first
        while len(produced) < MAX_NEW_TOKENS:
            token = int(np.argmax(logits))
            if self.runtime.is_end_token(token):
                break
            produced.append(token)
            if len(self.chat_format.detokenize(produced)) >= PARSE_WINDOW:
                break  # the parse reads only the first 12 characters: more tokens cannot change it
            if len(produced) == 1 and token == self.options.paren_token:
                logits = after_paren
            else:
                logits = self._eval([token], position)
            position += 1
        return self.chat_format.detokenize(produced)


def _repeat(on_item: Callable[[], None] | None) -> Callable[[int], None] | None:
    """`on_item` called n times for a decode that read n items (None stays None)."""
    if on_item is None:
        return None

    def on_done(n: int) -> None:
        for _ in range(n):
            on_item()

    return on_done


def timed(function: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started
