"""Statement-meaning contrasts: per-head activations of the assistant SAYING each statement.

The letter contrast of the paper ("A" against "E" after the question) is 95-99.5% the same for every item: it
mostly encodes the letter, so a vector built from it moves all answers up or down together. Here the model
speaks each item in its own voice instead ("I worry about things."), and the per-head activations at the
sentence's last token carry what the statement means. A person's contrast is then the statements they agree
with against those they reject: the shared format cancels and what is left is content (an extravert endorses
"I love large parties." and rejects "I keep in the background.").

The negation contrast pairs each statement with its denial ("It is not true that I worry about things."),
like the paper pairs "A" with "E": the person's side of an item is the statement if they agree, its denial if
they disagree, so every answered item gives both sides and the shared wording cancels within the pair.

Like the letter activations these depend on the model and the items only: cached per model file hash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.activations import pad_right
from paso_local.converters.array_cache import cache_key, cache_path, load_arrays, save_arrays
from paso_local.converters.model import fast_dtype
from paso_local.llm.modelfiles import file_sha256
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT
from paso_local.progress import progress_bar

CACHE_VERSION = 1
DENIAL = "It is not true that {statement}"
SELF_QUESTION = "Describe yourself in one sentence."
ITEMS_PER_BATCH = 16


def self_statement(item: Item) -> str:
    """The item in the first person: "Worry about things." -> "I worry about things." """
    text = item.text.strip().rstrip(".").strip()
    return f"I {text[:1].lower()}{text[1:]}."


def denied_statement(item: Item) -> str:
    """ "Worry about things." -> "It is not true that I worry about things." """
    return DENIAL.format(statement=self_statement(item))


def spoken(item: Item, denied: bool) -> str:
    return denied_statement(item) if denied else self_statement(item)


def statement_prompt(
    chat_format: Any, item: Item, system_prompt: str = SYSTEM_PROMPT, denied: bool = False
) -> list[int]:
    """System prompt, the self-description question, and the assistant's answer: the item in its own voice
    (or its denial)."""
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": SELF_QUESTION}]
    return list(chat_format.encode_chat(messages, assistant_prefix=spoken(item, denied)))


def compute_statement_activations(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    *,
    system_prompt: str = SYSTEM_PROMPT,
    show_progress: bool = True,
    denied: bool = False,
) -> np.ndarray:
    """float32 [N, n_layer, n_head, head_dim]: the input of W_o at each statement's last token."""
    from paso_local.converters.hooks import record_head_inputs

    prompts = [statement_prompt(chat_format, item, system_prompt, denied) for item in items]
    out: np.ndarray | None = None
    title = "Model activations (denied statements)" if denied else "Model activations (self-statements)"
    with progress_bar(title, len(items), enabled=show_progress) as bar:
        for start in range(0, len(prompts), ITEMS_PER_BATCH):
            batch, lengths = pad_right(prompts[start : start + ITEMS_PER_BATCH], chat_format.eos_token_id)
            with torch.inference_mode(), record_head_inputs(model, positions=lengths - 1) as recorded:
                h = model.embed(batch)
                model.run_blocks(h, 0, model.config.n_layer)
            acts = torch.stack([recorded[layer] for layer in sorted(recorded)], dim=1).float().numpy()
            if out is None:
                out = np.zeros((len(items),) + acts.shape[1:], dtype=np.float32)
            out[start : start + len(batch)] = acts
            bar.advance(len(batch))
    assert out is not None
    return out


def statement_cache_path(
    model_sha256: str, items: Sequence[Item], system_prompt: str, denied: bool = False
) -> Path:
    key = cache_key(
        {
            "version": CACHE_VERSION,
            "model_sha256": model_sha256,
            "question": SELF_QUESTION,
            "system_prompt": system_prompt,
            "statements": [(i.number, spoken(i, denied)) for i in items],
            "dtype": str(fast_dtype()),
        }
    )
    return cache_path("activations", key, prefix="statements-")


def statement_activations(
    model_path: Path,
    items: Sequence[Item],
    *,
    load_model: Callable[[], Any],
    load_chat_format: Callable[[], Any],
    system_prompt: str = SYSTEM_PROMPT,
    show_progress: bool = True,
    denied: bool = False,
) -> tuple[np.ndarray, bool]:
    """(activations [N, n_layer, n_head, head_dim] in the order of `items`, cache_hit); `denied`: of each
    statement's denial."""
    path = statement_cache_path(file_sha256(model_path), items, system_prompt, denied)
    cached = load_arrays(path, ("item_numbers", "acts"))
    if cached is not None and [int(n) for n in cached["item_numbers"]] == [i.number for i in items]:
        return cached["acts"], True
    acts = compute_statement_activations(
        load_model(),
        load_chat_format(),
        items,
        system_prompt=system_prompt,
        show_progress=show_progress,
        denied=denied,
    )
    save_arrays(path, item_numbers=np.asarray([i.number for i in items], dtype=np.int64), acts=acts)
    return acts, False
