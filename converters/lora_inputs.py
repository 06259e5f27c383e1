"""The LoRA trainer's input cache: the residual entering the trained blocks for every item (and the output
head), computed once per model file and form and kept under the user cache directory, so a second person (or
a second run) starts training at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.array_cache import cache_key, cache_path, load_arrays, save_arrays
from paso_local.converters.lora import AnswerInputs, prepare_inputs
from paso_local.llm.readout import OptionTokens
from paso_local.person.inventory import Item
from paso_local.person.questionnaire_prompt import prompt_fingerprint
from paso_local.progress import progress_bar

CACHE_VERSION = 1
TENSOR_FIELDS = ("lengths", "query_hidden", "keys", "values")


def answer_inputs(
    model: Any,
    chat_format: Any,
    items: Sequence[Item],
    options: OptionTokens,
    *,
    model_path: Path,
    first_layer: int,
    show_progress: bool,
) -> AnswerInputs:
    """The items' inputs below block `first_layer`: from the cache when it holds them, else computed and
    cached."""
    from paso_local.llm.modelfiles import file_sha256

    numbers = [i.number for i in items]
    key = cache_key([CACHE_VERSION, file_sha256(model_path), prompt_fingerprint(), numbers, first_layer])
    path = cache_path("lora_inputs", key)
    cached = load_arrays(path, ("item_numbers", *TENSOR_FIELDS))
    if cached is not None:
        return AnswerInputs(
            item_numbers=[int(n) for n in cached["item_numbers"]],
            first_layer=first_layer,
            output_weight=output_weight(model),
            **{name: torch.from_numpy(cached[name].copy()) for name in TENSOR_FIELDS},
        )
    with quiet_progress(show_progress, f"model activations below block {first_layer}", 1):
        inputs = prepare_inputs(model, chat_format, items, options)
    save_arrays(
        path,
        item_numbers=np.asarray(inputs.item_numbers),
        **{name: getattr(inputs, name).numpy() for name in TENSOR_FIELDS},
    )
    return inputs


def output_weight(model: Any) -> torch.Tensor:
    """The model's output head (the token embedding when the two are tied), dequantised."""
    from paso_local.converters.gguf_reader import TOKEN_EMBD

    head = TOKEN_EMBD if model.config.tied_output else model.output.weight_name
    return model.model_file.dequantize(head)


class quiet_progress:
    """A one-step progress bar around a block of work."""

    def __init__(self, enabled: bool, description: str, total: int):
        self._bar = progress_bar(description, total, enabled=enabled)

    def __enter__(self) -> None:
        self._inner = self._bar.__enter__()

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self._inner.advance()
        self._bar.__exit__(*exc)
