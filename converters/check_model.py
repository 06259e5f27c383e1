"""`paso-local check-model`: does the torch converter compute what llama.cpp computes on this GGUF file?

N varied prompts go through both; the next-token distributions at each prompt's last position are compared
(top-1 agreement, KL(llama.cpp || torch), largest logit difference). Then one seeded random control vector is
applied in both (llama.cpp: llama_set_adapter_cvec; torch: hooks.block_output_steering) and compared again.

The noise floor puts the figures in scale: llama.cpp itself, evaluating the same prompts one token at a time
(its decoding path) instead of in one batch, differs from its own batched logits by a similar KL, because it
rounds activations to 8 bits before every quantised matmul. Top-1 disagreements then only happen at near-ties.

The torch half runs first and is closed before llama.cpp loads, so the peak memory is that of the larger half.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.errors import PasoError
from paso_local.store.memory import peak_rss_mb

TOP1_TARGET = 0.99
KL_TARGET = 0.01
STEER_SEED = 0
STEER_FRACTION = 0.03  # per-block vector norm, as a fraction of that block's median residual norm
TOKENS_PER_BATCH = 4096  # torch batch size, in padded tokens

PROMPTS = (
    "What is the capital of France?",
    "Write a Python function that reverses a linked list.",
    "Tell me a short joke about cats.",
    "How do I bake a loaf of sourdough bread?",
    "Explain quantum entanglement to a ten-year-old.",
    "Translate 'good morning, how did you sleep?' into German.",
    "Why is the sky blue?",
    "I feel nervous before job interviews. Any advice?",
    "Summarise the plot of Hamlet in three sentences.",
    "What is 17 times 23?",
    "Write a haiku about autumn rain.",
    "Is it better to rent or to buy a house?",
    "Describe your ideal weekend.",
    "List three uses of a paperclip that are not holding paper.",
    "My friend forgot my birthday. Should I say something?",
    "What are the main causes of inflation?",
    "Give me a SQL query that counts orders per customer.",
    "Quelle est la meilleure saison pour visiter Paris ?",
    "Do you prefer big parties or quiet evenings at home?",
    "How does a bicycle stay upright?",
    "Write the opening line of a mystery novel.",
    "What should I consider when adopting a dog?",
    "Explain the difference between a list and a tuple in Python.",
    "Plan a three-day trip to Rome on a budget.",
)
RAW_TEXT_EVERY = 4  # every 4th prompt is plain text continuation, without the chat template


@dataclass(frozen=True)
class CheckResult:
    top1_agreement: float
    kl_mean: float
    kl_max: float
    max_abs_logit_diff: float
    steered_top1_agreement: float
    steered_kl_mean: float
    steered_kl_max: float
    steering_kl_mean: float  # how far the vector moved llama.cpp's own distribution (it must be noticeable)
    noise_floor_kl_mean: float  # llama.cpp batched vs llama.cpp one token at a time
    noise_floor_top1_agreement: float
    disagreement_gaps: list[float]  # llama.cpp's top-1 minus top-2 logit where torch's top-1 differs
    arch: str
    n_layer: int
    n_embd: int
    n_prompts: int
    peak_rss_mb: float
    seconds: float

    @property
    def passed(self) -> bool:
        return (
            self.top1_agreement >= TOP1_TARGET
            and self.kl_mean <= KL_TARGET
            and self.steered_top1_agreement >= TOP1_TARGET
            and self.steered_kl_mean <= KL_TARGET
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def run_check_model(args: argparse.Namespace) -> int:
    from paso_local.llm.modelfiles import resolve_model

    path = resolve_model(args.model)
    result = check_model(path, n_prompts=args.prompts, show_progress=True)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print(format_result(path, result))
    if not result.passed:
        print(
            f"FAIL: the torch model does not match llama.cpp closely enough on {path.name} "
            f"(targets: top-1 agreement >= {TOP1_TARGET}, mean KL <= {KL_TARGET}, plain and steered).",
            file=sys.stderr,
        )
        return 1
    return 0


def check_model(path: str | Path, *, n_prompts: int = 20, show_progress: bool = True) -> CheckResult:
    from paso_local.converters.gguf_reader import read_config
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.progress import progress_bar

    if n_prompts < 1:
        raise PasoError(f"--prompts {n_prompts}: give at least 1")
    started = time.perf_counter()
    path = Path(path)
    config = read_config(path)
    chat_format = ChatFormat.from_model(path)
    try:
        prompts = prompt_tokens(chat_format, n_prompts)
    finally:
        chat_format.close()
    batches = token_batches(prompts, TOKENS_PER_BATCH)
    total = 2 * config.n_layer * len(batches) + 3 * n_prompts
    with progress_bar(f"Comparing torch and llama.cpp on {path.name}", total, enabled=show_progress) as bar:
        torch_plain, torch_steered, vector = _torch_half(path, prompts, batches, bar.advance)
        gc.collect()
        ref_plain, ref_decoded, ref_steered = _llama_half(path, prompts, vector, bar.advance)
    plain = compare(ref_plain, torch_plain)
    steered = compare(ref_steered, torch_steered)
    moved = compare(ref_plain, ref_steered)
    floor = compare(ref_plain, ref_decoded)
    return CheckResult(
        top1_agreement=plain.top1_agreement,
        kl_mean=plain.kl_mean,
        kl_max=plain.kl_max,
        max_abs_logit_diff=plain.max_abs_logit_diff,
        steered_top1_agreement=steered.top1_agreement,
        steered_kl_mean=steered.kl_mean,
        steered_kl_max=steered.kl_max,
        steering_kl_mean=moved.kl_mean,
        noise_floor_kl_mean=floor.kl_mean,
        noise_floor_top1_agreement=floor.top1_agreement,
        disagreement_gaps=disagreement_gaps(ref_plain, torch_plain)
        + disagreement_gaps(ref_steered, torch_steered),
        arch=config.arch,
        n_layer=config.n_layer,
        n_embd=config.n_embd,
        n_prompts=n_prompts,
        peak_rss_mb=round(peak_rss_mb(), 1),
        seconds=round(time.perf_counter() - started, 2),
    )


# --- prompts ------------------------------------------------------------------------------------------------


def prompt_tokens(chat_format: Any, n_prompts: int) -> list[list[int]]:
    """N varied prompts: chat-formatted questions, and every RAW_TEXT_EVERY-th one as plain text. Past the
    list, prompts are paired ("A Also, B") so that N can exceed it without repeats."""
    prompts = []
    for i in range(n_prompts):
        text = PROMPTS[i % len(PROMPTS)]
        if i >= len(PROMPTS):
            text = f"{text} Also, {PROMPTS[(i * 7 + i // len(PROMPTS)) % len(PROMPTS)].lower()}"
        if i % RAW_TEXT_EVERY == RAW_TEXT_EVERY - 1:
            tokens = chat_format.tokenize(f"Question: {text}\nAnswer:")
        else:
            tokens = chat_format.encode_chat([{"role": "user", "content": text}])
        prompts.append(tokens)
    return prompts


def token_batches(prompts: Sequence[Sequence[int]], budget: int) -> list[list[int]]:
    """Prompt indices grouped so that each right-padded batch holds at most `budget` tokens (one at least)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(prompts)), key=lambda i: len(prompts[i])):
        width = max([len(prompts[i]) for i in current] + [len(prompts[index])])
        if current and width * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


# --- the torch half -----------------------------------------------------------------------------------------


def _torch_half(
    path: Path, prompts: list[list[int]], batches: list[list[int]], advance: Callable[[int], None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last-position logits [N, V] unsteered and steered, and the steering buffer [(n_layer-1), n_embd]."""
    from paso_local.converters.hooks import block_output_steering
    from paso_local.converters.model import load_model

    model = load_model(path)
    try:
        plain, norms = _torch_logits(model, prompts, batches, advance)
        vector = random_steering(norms, model.config.n_embd, seed=STEER_SEED)
        with block_output_steering(
            model, {layer + 1: torch.from_numpy(row) for layer, row in enumerate(vector)}
        ):
            steered, _ = _torch_logits(model, prompts, batches, advance)
    finally:
        model.close()
    return plain, steered, vector


def _torch_logits(
    model: Any, prompts: list[list[int]], batches: list[list[int]], advance: Callable[[int], None]
) -> tuple[np.ndarray, np.ndarray]:
    """Logits at each prompt's last position [N, V] and each block's median residual norm [n_layer]."""
    from paso_local.converters.model import pad_right

    logits = np.zeros((len(prompts), model.config.vocab_size), dtype=np.float64)
    norms: list[list[torch.Tensor]] = [[] for _ in range(model.config.n_layer)]
    for batch in batches:
        tokens, lengths = pad_right([prompts[i] for i in batch], 0)
        last = lengths - 1
        real = torch.arange(tokens.shape[1])[None, :] <= last[:, None]  # [B, S]
        real[:, 0] = False  # the first position's outsized activations stay out of the typical norm
        h = model.embed(tokens)
        for layer in range(model.config.n_layer):
            h = model.run_blocks(h, layer, layer + 1)
            norms[layer].append(h.norm(dim=-1)[real])
            advance(1)
        last_h = h[torch.arange(len(batch)), last][:, None]  # [B, 1, D]
        logits[batch] = model.final_logits(last_h)[:, 0].double().numpy()
    median_norms = np.array([float(torch.cat(n).median()) if torch.cat(n).numel() else 0.0 for n in norms])
    return logits, median_norms


def random_steering(norms: np.ndarray, n_embd: int, *, seed: int) -> np.ndarray:
    """A seeded random control vector, rows for blocks 1..n_layer-1, each STEER_FRACTION of its block's
    residual norm: enough to move the next-token distribution noticeably, small enough to keep it coherent."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(norms) - 1, n_embd))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    return (directions * (STEER_FRACTION * norms[1:, None])).astype(np.float32)


# --- the llama.cpp half -------------------------------------------------------------------------------------


def _llama_half(
    path: Path, prompts: list[list[int]], vector: np.ndarray, advance: Callable[[int], None]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Last-position logits [N, V]: batched, one token at a time (the noise floor), and batched steered."""
    n_ctx = max(64, -(-max(len(p) for p in prompts) // 64) * 64)
    with LlamaLogits(path, n_ctx=n_ctx) as llama:
        plain = np.stack([_advanced(llama.last_logits(p), advance) for p in prompts])
        decoded = np.stack([_advanced(llama.last_logits(p, one_by_one=True), advance) for p in prompts])
        llama.set_control_vector(vector)
        steered = np.stack([_advanced(llama.last_logits(p), advance) for p in prompts])
    return plain, decoded, steered


def _advanced(value: np.ndarray, advance: Callable[[int], None]) -> np.ndarray:
    advance(1)
    return value


class LlamaLogits:
    """Next-token logits of a token sequence through the runtime (`Runtime.open_reference`: one decode per
    prompt, no weight repacking), with an optional control vector."""

    def __init__(self, path: Path, *, n_ctx: int, logits_all: bool = False, n_threads: int | None = None):
        from paso_local.llm.runtime import Runtime

        self.runtime = Runtime.open_reference(path, n_ctx=n_ctx, logits_all=logits_all, n_threads=n_threads)
        self.n_vocab = self.runtime.n_vocab
        self.n_embd = self.runtime.info.n_embd
        self.n_layer = self.runtime.info.n_layer

    def last_logits(self, tokens: Sequence[int], *, one_by_one: bool = False) -> np.ndarray:
        """float64 [V] after evaluating `tokens` from an empty cache, in one batch or one token at a time."""
        self.runtime.reset()
        chunks = [[t] for t in tokens] if one_by_one else [list(tokens)]
        done = 0
        for chunk in chunks:
            self.runtime.eval_tokens(chunk, after=done)
            done += len(chunk)
        return self.runtime.last_logits().astype(np.float64)

    def all_logits(self, tokens: Sequence[int]) -> np.ndarray:
        """float64 [S, V] at every position (open with logits_all=True)."""
        self.runtime.all_logits(0)  # refused before any work when logits_all is off
        self.runtime.reset()
        self.runtime.eval_tokens(tokens, after=0)
        return self.runtime.all_logits(len(tokens))

    def set_control_vector(self, buffer: np.ndarray | None) -> None:
        """buffer [(n_layer - 1), n_embd], row 0 = block 1 (the full buffer, always); None clears it."""
        if buffer is not None and np.shape(buffer) != (self.n_layer - 1, self.n_embd):
            raise ValueError(
                f"control vector buffer {np.shape(buffer)}, expected {(self.n_layer - 1, self.n_embd)}"
            )
        self.runtime.set_vector_buffer(buffer)

    def close(self) -> None:
        self.runtime.close()

    def __enter__(self) -> LlamaLogits:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- figures ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agreement:
    top1_agreement: float
    kl_mean: float
    kl_max: float
    max_abs_logit_diff: float


def compare(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    """KL(reference || candidate) per row of next-token logits [N, V], and top-1 agreement."""
    ref = torch.from_numpy(np.asarray(reference, dtype=np.float64))
    cand = torch.from_numpy(np.asarray(candidate, dtype=np.float64))
    log_p, log_q = torch.log_softmax(ref, -1), torch.log_softmax(cand, -1)
    kl = (log_p.exp() * (log_p - log_q)).sum(-1).clamp_min(0.0)  # [N]
    return Agreement(
        top1_agreement=float((ref.argmax(-1) == cand.argmax(-1)).double().mean()),
        kl_mean=float(kl.mean()),
        kl_max=float(kl.max()),
        max_abs_logit_diff=float((ref - cand).abs().max()),
    )


def disagreement_gaps(reference: np.ndarray, candidate: np.ndarray) -> list[float]:
    """Where the top-1 tokens differ: the reference's margin between its top two logits (small: near-ties)."""
    top2 = np.sort(reference, axis=-1)[:, -2:]
    differ = reference.argmax(-1) != candidate.argmax(-1)
    return [round(float(g), 4) for g in (top2[:, 1] - top2[:, 0])[differ]]


def format_result(path: Path, r: CheckResult) -> str:
    verdict = "PASS" if r.passed else "FAIL"
    return "\n".join([
        f"{path.name}: {r.arch}, {r.n_layer} blocks, n_embd {r.n_embd}; {r.n_prompts} prompts",
        f"{'':26}{'plain':>10}{'steered':>10}",
        f"{'top-1 agreement':26}{r.top1_agreement:>10.3f}{r.steered_top1_agreement:>10.3f}"
        f"   (target >= {TOP1_TARGET})",
        f"{'mean KL(llama.cpp||torch)':26}{r.kl_mean:>10.5f}{r.steered_kl_mean:>10.5f}"
        f"   (target <= {KL_TARGET})",
        f"{'max KL':26}{r.kl_max:>10.5f}{r.steered_kl_max:>10.5f}",
        f"{'max |logit difference|':26}{r.max_abs_logit_diff:>10.3f}",
        f"Noise floor: llama.cpp one token at a time vs batched: mean KL {r.noise_floor_kl_mean:.5f}, "
        f"top-1 agreement {r.noise_floor_top1_agreement:.3f}.",
        f"Top-1 disagreements at llama.cpp logit margins {r.disagreement_gaps} (near-ties)."
        if r.disagreement_gaps
        else "No top-1 disagreements.",
        f"The random control vector moved llama.cpp's next-token distribution by a mean KL of "
        f"{r.steering_kl_mean:.3f}.",
        f"Peak memory {r.peak_rss_mb:.0f} MB, {r.seconds:.1f} s.  {verdict}",
    ])  # fmt: skip
