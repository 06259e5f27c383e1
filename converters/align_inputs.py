"""Align's first two steps (paso_local.converters.align_pipeline runs them): the plan (which answers count, which
contrasts and sites to try; every refusal before any model work) and the activations the probes see (torch,
cached per model), with the small pieces the later steps share (checkpoint block, W_o cache, model loading)."""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paso_local.converters.activations import ItemActivations, item_activations
from paso_local.converters.align_memory import cached_blocks, check_align_memory
from paso_local.converters.pas import MIN_USABLE_ANSWERS, Labels, person_labels, require_enough_answers
from paso_local.converters.strength import COARSE_GRID, FOLDS, FULL_SEARCH, SearchPolicy, make_folds
from paso_local.errors import PasoError
from paso_local.person.inventory import Item, form_items
from paso_local.person.questionnaire_prompt import CONTRASTS, DEFAULT_CONTRAST, DEFAULT_SITE, SITES

DEFAULT_HEADS = 24
FIRST_LAYER_FRACTION = 0.4  # heads are eligible from this depth on (torch's steered passes restart there)
PLACEMENT_SHIFT = 1  # head vector of layer L added to the output of block L-1 (0: block L); measured closer
MIN_DOMAIN_LABELS = 6  # non-neutral answers a domain needs for its own vector
MIN_SIDE_STATEMENTS = 3  # statement contrast: answers needed on each side (agree / disagree) per fit
SCORING_BACKENDS = ("llama", "torch")  # torch: the float32 reference the llama.cpp choice is measured against


# --- small shared pieces -------------------------------------------------------------------------------------


def checkpoint_block(n_layer: int) -> int:
    """Torch's steered passes restart at this block (>= 1: llama.cpp never steers block 0)."""
    return min(max(1, int(round(FIRST_LAYER_FRACTION * n_layer))), n_layer - 1 - PLACEMENT_SHIFT)


def first_eligible_layer(n_layer: int) -> int:
    """Heads from this layer on may be chosen: their vectors, placed PLACEMENT_SHIFT blocks earlier, start at
    the checkpoint block."""
    return checkpoint_block(n_layer) + PLACEMENT_SHIFT


class WoCache:
    """W_o per layer as float32 numpy, dequantised once per run from the model `load` returns (called only for
    a layer not yet kept, so the model may be released in between)."""

    def __init__(self, load: Callable[[], Any]):
        self._load = load
        self._weights: dict[int, np.ndarray] = {}

    def __call__(self, layer: int) -> np.ndarray:
        if layer not in self._weights:
            self._weights[layer] = self._load().attn_output_weight(layer).float().numpy()
        return self._weights[layer]


def restricted(answers: Mapping[int, int], numbers: Sequence[int]) -> dict[int, int]:
    keep = {int(n) for n in numbers}
    return {n: a for n, a in answers.items() if n in keep}


def summed(vectors: Sequence[Mapping[int, np.ndarray]]) -> dict[int, np.ndarray]:
    out: dict[int, np.ndarray] = {}
    for vector in vectors:
        for b, v in vector.items():
            out[b] = out.get(b, 0) + v
    return {b: np.asarray(v, dtype=np.float32) for b, v in sorted(out.items())}


def torch_cached_blocks(config: Any, dtype: torch.dtype) -> int:
    """The torch model's dequantised blocks kept between passes, in `dtype` (align_memory.cached_blocks)."""
    return cached_blocks(config, torch.finfo(dtype).bits // 8)


def load_torch_model(model_path: Path, dtype: torch.dtype | None = None) -> Any:
    from paso_local.converters.gguf_reader import read_config
    from paso_local.converters.model import fast_dtype, load_model

    dtype = dtype or fast_dtype()
    return load_model(
        model_path, dtype=dtype, cache_blocks=torch_cached_blocks(read_config(model_path), dtype)
    )


class LazyTorchModel:
    """The torch model, loaded on the first call only (an activation-cache hit may never need it). `release`
    lets it go: align does before llama.cpp's cross-validation, where the two together made the peak memory
    (its dequantised weights and the file's pages, beside llama.cpp's own mapping). A later call loads it again."""

    def __init__(self, model_path: Path, dtype: torch.dtype | None = None):
        self.model_path, self.dtype = model_path, dtype
        self._model: Any = None

    def __call__(self) -> Any:
        if self._model is None:
            self._model = load_torch_model(self.model_path, self.dtype)
        return self._model

    def release(self) -> None:
        if self._model is not None:
            self._model = None
            gc.collect()


def lazy_torch_model(model_path: Path, dtype: torch.dtype | None = None) -> LazyTorchModel:
    return LazyTorchModel(model_path, dtype)


# --- step 1: the plan ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlignRequest:
    """What align is asked to do. `runtime`: an open llama.cpp runtime of the same model to score with (eval
    passes its own); None opens one for the cross-validation."""

    model_path: Path
    answers: Mapping[int, int]
    form: str = "120"
    profile: str = "default"
    heads: int = DEFAULT_HEADS
    coarse: Sequence[float] = COARSE_GRID
    search: SearchPolicy = FULL_SEARCH  # which strengths the cross-validation asks
    contrast: str = DEFAULT_CONTRAST
    site: str = DEFAULT_SITE
    scoring: str = "llama"
    threads: int | None = None
    show_progress: bool = True
    runtime: Any = None


@dataclass(frozen=True)
class AlignPlan:
    request: AlignRequest
    config: Any  # paso_local.converters.gguf_reader.ModelConfig
    items: list[Item]
    answers: dict[int, int]  # item number -> 1..5, the form's items only
    contrasts: list[str]  # the contrasts to cross-validate
    head_sites: bool
    residual_site: bool
    min_layer: int


def plan_alignment(request: AlignRequest) -> AlignPlan:
    """Every check that needs no model pass, with a message saying what to do."""
    from paso_local.converters.gguf_reader import read_config

    config = read_config(request.model_path)  # PasoError for a damaged or unsupported model
    check_align_memory(request.model_path, config)  # a model too big for this machine: refused here
    items = form_items(request.form)
    numbers = [i.number for i in items]
    answers = {n: a for n, a in restricted(request.answers, numbers).items() if 1 <= a <= 5}
    require_enough_answers(
        person_labels(answers, numbers), MIN_USABLE_ANSWERS, f"profile {request.profile!r}"
    )
    contrast, site = request.contrast, request.site
    if contrast not in CONTRASTS:
        raise PasoError(f"--contrast {contrast!r}: choose one of {', '.join(CONTRASTS)}")
    if site not in SITES:
        raise PasoError(f"--site {site!r}: choose one of {', '.join(SITES)}")
    if request.scoring not in SCORING_BACKENDS:
        raise PasoError(f"scoring {request.scoring!r}: choose one of {', '.join(SCORING_BACKENDS)}")
    if site == "residual" and contrast != "letter":
        raise PasoError(
            f"--site residual reads the residual stream at the answer letter: use it with --contrast letter "
            f"(not {contrast!r}), or --site auto"
        )
    contrasts = [c for c in CONTRASTS if c != "auto"] if contrast == "auto" else [contrast]
    if "statement" in contrasts and not statement_contrast_fits(answers, numbers):
        if contrast == "statement":
            raise PasoError(
                f"the statement contrast needs at least {MIN_SIDE_STATEMENTS} answers on each side (4-5 and "
                "1-2) in every cross-validation fold; this profile takes one side almost always. "
                "Use --contrast letter (or auto)."
            )
        contrasts.remove("statement")  # auto: the others, and no statement activations to compute
    min_layer = first_eligible_layer(config.n_layer)
    eligible = (config.n_layer - min_layer) * config.n_head
    if not 1 <= request.heads <= eligible:
        raise PasoError(
            f"--heads {request.heads}: choose 1..{eligible} (heads of layers {min_layer}..{config.n_layer - 1})"
        )
    return AlignPlan(
        request,
        config,
        items,
        answers,
        contrasts,
        site in ("heads", "auto"),
        site in ("residual", "auto"),
        min_layer,
    )


def statement_contrast_fits(answers: Mapping[int, int], numbers: Sequence[int]) -> bool:
    """Whether every cross-validation fold's training answers take both sides (`can_fit`): the folds are the
    ones align cross-validates, over the form's answered items in form order."""
    answered = [int(n) for n in numbers if int(n) in answers]
    folds = make_folds(len(answered), FOLDS)
    return all(
        can_fit(person_labels(restricted(answers, np.delete(answered, fold).tolist()), numbers), True)
        for fold in folds
    )


def can_fit(labels: Labels, one_sided: bool) -> bool:
    """A paired contrast always has both sides (A and E, or a statement and its denial, of every item); the
    one-sided statement contrast needs statements the person agrees with AND statements they reject."""
    if not one_sided:
        return True
    agreed = int(labels.agrees.sum())
    return min(agreed, len(labels.agrees) - agreed) >= MIN_SIDE_STATEMENTS


# --- step 2: activations -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContrastActivations:
    """What the probes of one contrast see, per item [N, n_layer, n_head, head_dim]: `agree` is the person's
    side when they agree with the item, `disagree` its pair when they do not; without a pair (the statement
    contrast) the person's side is the statements they agree with against those they reject."""

    agree: np.ndarray
    disagree: np.ndarray | None

    @property
    def one_sided(self) -> bool:
        return self.disagree is None


def letter_contrast(acts: ItemActivations) -> ContrastActivations:
    return ContrastActivations(acts.agree, acts.disagree)


@dataclass
class Activations:
    acts: ItemActivations
    sources: dict[str, ContrastActivations]
    cache_hit: bool
    torch_model: LazyTorchModel
    seconds: float


def letter_activations(
    model_path: Path,
    items: Sequence[Item],
    n_layer: int,
    torch_model: Callable[[], Any],
    show: bool = False,
    chat_format: Callable[[], Any] | None = None,
) -> tuple[ItemActivations, bool]:
    """The A / E / readout activations of `items` (cached per model; nothing is loaded on a cache hit).
    `chat_format`: a loader the caller shares with its other passes (the header parse takes seconds)."""
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.readout import OptionTokens

    chat_format = chat_format or functools.cache(lambda: ChatFormat.from_model(model_path))
    return item_activations(
        model_path,
        items,
        checkpoint_block(n_layer),
        load_model=torch_model,
        load_chat_format=chat_format,
        load_tokens=lambda: OptionTokens.from_chat_format(chat_format()),
        show_progress=show,
    )


def read_activations(plan: AlignPlan) -> Activations:
    """The letter contrast's activations (and the statement / negation ones when they are tried)."""
    from paso_local.llm.chat_format import ChatFormat

    started = time.perf_counter()
    path, show = plan.request.model_path, plan.request.show_progress
    torch_model = lazy_torch_model(path)
    chat_format = functools.cache(lambda: ChatFormat.from_model(path))
    acts, cache_hit = letter_activations(
        path, plan.items, plan.config.n_layer, torch_model, show, chat_format
    )
    sources = {"letter": letter_contrast(acts)}
    if {"statement", "negation"} & set(plan.contrasts):
        from paso_local.converters.statement_activations import statement_activations

        def spoken(denied: bool) -> np.ndarray:
            nonlocal cache_hit
            found, hit = statement_activations(
                path,
                plan.items,
                load_model=torch_model,
                load_chat_format=chat_format,
                show_progress=show,
                denied=denied,
            )
            cache_hit = cache_hit and hit
            return found

        said = spoken(False)
        if "statement" in plan.contrasts:
            sources["statement"] = ContrastActivations(said, None)
        if "negation" in plan.contrasts:
            sources["negation"] = ContrastActivations(said, spoken(True))
    return Activations(acts, sources, cache_hit, torch_model, time.perf_counter() - started)
