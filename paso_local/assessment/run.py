"""The assessment's model-side work: write a method's replies (steered as the method says), read the round
trip and the replies' perplexity, and judge them against each person's answers.

Replies are written with `Sampling` at temperature 0 and no repeat penalty (greedy: reproducible, and what
the model itself prefers) unless the run asks for the chat's seeded sampling. Everything here returns plain
JSON-ready dicts, rounded once, so a checkpoint read back gives exactly the table a fresh run gives.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from paso_local.assessment.coherence import reply_nll
from paso_local.assessment.judge import Judge, Judgement, JudgeRequest
from paso_local.assessment.methods import AssessMethod
from paso_local.assessment.models import LoadedModel
from paso_local.assessment.prompts import open_messages, open_question, roundtrip_messages, stance_messages
from paso_local.assessment.validation import Validation, validate_judge
from paso_local.errors import PasoError
from paso_local.evaluation.split import SplitSubject
from paso_local.llm.readout import OptionTokens, option_distribution
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT
from paso_local.progress import status

SKIP_REPLY_CONTEXT = "reply context"  # the open question (with its system prompt) leaves no room for a reply
SKIP_ROUNDTRIP_CONTEXT = "round-trip context"
SKIP_PERPLEXITY_CONTEXT = "perplexity context"
DIGITS = 6


@dataclass(frozen=True)
class ReplySettings:
    max_tokens: int
    sampling: str  # "greedy" or "chat"
    strength: float

    def sampling_for(self) -> object:
        from paso_local.llm.generation import Sampling

        if self.sampling == "greedy":
            return Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=self.max_tokens)
        return Sampling(max_tokens=self.max_tokens)


class Replier:
    """The model every method runs on; `steer` puts a method on it for a subject."""

    def __init__(self, model: LoadedModel, settings: ReplySettings):
        self.model = model
        self.settings = settings
        self._warned: set[str] = set()
        try:
            self.options = OptionTokens.from_chat_format(model.runtime.chat_format)
        except ValueError as exc:
            raise PasoError(f"{model.path.name} cannot answer the round trip's question: {exc}") from exc

    def steer(self, method: AssessMethod, subject: SplitSubject | None) -> None:
        from paso_local.llm.steering import Steering

        runtime = self.model.runtime
        if method.vector is None:
            runtime.set_vector_directions(None)
            return
        if subject is None and method.vector.per_subject:
            raise ValueError(f"method {method.name} needs a subject for its vector")
        path = method.vector.for_subject(subject) if subject is not None else method.vector.path
        loaded = runtime.load_vector(path)
        for warning in loaded.warnings:
            if warning not in self._warned:
                self._warned.add(warning)
                status(f"Warning: {warning}")
        runtime.set_steering(Steering(enabled=True, strength=self.settings.strength))

    def write(self, messages: list[dict]) -> dict:
        """One reply: text, tokens generated, why it stopped; a prompt with no room left is a counted skip."""
        runtime = self.model.runtime
        sampling = self.settings.sampling_for()
        reserve = min(sampling.max_tokens, max(self.model.n_ctx // 2, 1))  # what stream_chat keeps free
        if runtime.count_tokens(messages) > self.model.n_ctx - reserve:
            return {"reply": None, "tokens": 0, "finish": None, "skip": SKIP_REPLY_CONTEXT}
        generation = runtime.stream_chat(messages, sampling=sampling)
        text = generation.collect()
        stats = generation.stats
        return {"reply": text, "tokens": stats.tokens, "finish": stats.finish_reason, "skip": None}

    def adapted(self, method: AssessMethod) -> contextlib.AbstractContextManager:
        """The method's LoRA (the profile reader) applied while it writes, removed after."""
        if method.adapter is None:
            return contextlib.nullcontext()
        from paso_local.llm.lora_adapter import apply_lora

        return apply_lora(self.model.runtime, method.adapter)

    def roundtrip(
        self, items: Sequence[Item], system_prompts: Sequence[str], replies: Sequence[str | None]
    ) -> list:
        """Per item, the questionnaire answer's distribution over 1..5 with the item's own reply in the
        context (after that item's system prompt): a dict, SKIP_ROUNDTRIP_CONTEXT when the prompt does not
        fit, None without a reply. Under the method's current steering and adapter."""
        encode = self.model.runtime.chat_format.encode_chat
        asked = [k for k, reply in enumerate(replies) if reply is not None]
        prompts = [
            list(encode(roundtrip_messages(items[k], system_prompts[k], replies[k])))
            + [self.options.paren_token]
            for k in asked
        ]
        out: list[dict | str | None] = [None] * len(items)
        for k in asked:
            out[k] = SKIP_ROUNDTRIP_CONTEXT
        rows, logits = self.model.read_ends(prompts)
        if rows:
            dist, mass = option_distribution(logits[:, 0], logits[:, 1], self.options)
            for row, d, m in zip(rows, dist, mass, strict=True):
                out[asked[row]] = {
                    "dist": [round(float(v), DIGITS) for v in d],
                    "mass": round(float(m), DIGITS),
                }
        return out

    def nll(self, item: Item, reply: str | None) -> dict:
        """The reply's NLL under the unsteered model after the base method's prompt (the caller unsteers)."""
        if reply is None:
            return {"nll": None, "nll_tokens": 0}
        prompt = list(self.model.runtime.chat_format.encode_chat(open_messages(item, SYSTEM_PROMPT)))
        result = reply_nll(self.model, prompt, reply)
        if result is None:
            return {"nll": None, "nll_tokens": 0, "nll_skip": SKIP_PERPLEXITY_CONTEXT}
        return {"nll": round(result.nll, DIGITS), "nll_tokens": result.tokens}


def write_replies(
    replier: Replier, method: AssessMethod, items: Sequence[Item], subject: SplitSubject | None
) -> dict:
    """A method's replies to `items` for `subject` (None: a method that is not personal), with their round
    trip (steered) and NLL (unsteered): {"seconds", "items": [per item dict]}."""
    started = time.perf_counter()
    answers = subject.alignment if subject is not None else {}
    prompts = method.system_prompts(answers, [open_question(item) for item in items])
    replier.steer(method, subject)
    with replier.adapted(method):
        rows = [
            {"number": item.number, **replier.write(open_messages(item, prompt))}
            for item, prompt in zip(items, prompts, strict=True)
        ]
        trips = replier.roundtrip(items, prompts, [r["reply"] for r in rows])
    replier.model.runtime.set_vector_directions(None)
    for row, item, trip in zip(rows, items, trips, strict=True):
        row["roundtrip"] = trip if isinstance(trip, dict) else None
        if isinstance(trip, str):
            row["roundtrip_skip"] = trip
        row.update(replier.nll(item, row["reply"]))
    return {"seconds": round(time.perf_counter() - started, 3), "items": rows}


def judge_replies(judge: Judge, items: Sequence[Item], replies: dict, subject: SplitSubject) -> dict:
    """The method's replies judged against this subject's answers (items they left at 0 are not judged)."""
    started = time.perf_counter()
    by_number = {item.number: item for item in items}
    rows = [dict(row, target=subject.held_out[row["number"]]) for row in replies["items"]]
    asked = [r for r in rows if r["target"] and r["reply"] is not None]
    judgements = judge.rate([JudgeRequest(by_number[r["number"]], r["target"], r["reply"]) for r in asked])
    for row, judgement in zip(asked, judgements, strict=True):
        row["judge"] = _rounded(judgement).as_json()
    for row in rows:
        row.setdefault("judge", None)
    return {"seconds": round(time.perf_counter() - started, 3), "items": rows}


def _rounded(judgement: Judgement) -> Judgement:
    if not judgement.probs:
        return judgement
    return Judgement(tuple(round(float(p), DIGITS) for p in judgement.probs), judgement.skip)


def run_validation(replier: Replier, judge: Judge, items: Sequence[Item]) -> tuple[Validation, float]:
    """The judge's validation on `items`, with the unsteered replier told to agree or disagree strongly."""
    started = time.perf_counter()

    def write(item: Item, stance: str) -> str:
        row = replier.write(stance_messages(item, stance))
        return row["reply"] or ""

    replier.model.runtime.set_vector_directions(None)
    validation = validate_judge(items, write, judge)
    return validation.mapped(_rounded), time.perf_counter() - started


def roundtrip_answer(trip: dict) -> int:
    """The round trip's answer 1..5: the median of its distribution (the readout eval uses by default)."""
    return int((np.cumsum(trip["dist"]) < 0.5 - 1e-12).sum() + 1)
