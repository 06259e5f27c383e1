"""What each evaluated method gives the model: a system prompt, and for `pas` methods the person's vector.

- `base`: the paper's system prompt, nothing personal (the same answers for every subject: asked once).
- `fewshot`: the paper's few-shot baseline: the person's 120 answers listed in the system prompt, in the
  paper's words ("Here are some of your behaviors and your level of recognition towards them;" then
  "statement:Answer label" joined by ";"). Missing answers (0) are left out (the paper wrote "Unknown").
- `profile-prompt`: a compact description of the person's Big Five domain and facet scores (from the 120
  answers).
- `pas`: the paper's system prompt, steered by the person's aligned vector (exactly `paso-local align`).
- `pas+fewshot`: the few-shot system prompt AND the vector: what the paper's code calls PAS.
- `pas-letter`, `pas-statement`, `pas-negation`, `pas-auto`: `pas` with align's `--contrast` set (`pas` uses the
  default); `pas-residual`: the letter contrast's residual-stream mean difference (align's `--site residual`).
- `pas-by-domain`, `pas-by-domain-key`: one vector per domain (or domain and IPIP key), each with its own
  cross-validated strength; every item is asked with its group's vector (questionnaire only: a conversation
  has no item to key by).
- `retrieval`: before each held-out question, the person's k most related answers of their 120
  (`paso_local.evaluation.memory_methods`, `--k`); `retrieval-turns`, `retrieval-list`, `retrieval-both` name
  the framing (every related answer, whichever way it is keyed); `retrieval-same-key-turns`,
  `retrieval-same-key-list`: only the answers keyed the way the question is, the most related last;
  `retrieval-same-key-turns-inventory` shows the same answers in item order (one context per retrieved set).
  `retrieval` is the best measured, `retrieval-same-key-turns-inventory` (as accurate as closest-last and
  about 3x cheaper), and `retrieval+profile` adds the profile prompt to it.
- `reader`, `reader-profile`: `retrieval-same-key-turns` (and the profile prompt) with the model's profile reader,
  the LoRA `paso-local train-reader` trained on synthetic people to read exactly that framing (`--reader FILE`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from paso_local.errors import PasoError
from paso_local.person.answer_memory import DEFAULT_ORDER
from paso_local.person.inventory import form_items
from paso_local.person.profile_prompt import profile_prompt
from paso_local.person.questionnaire_prompt import (
    ANSWER_LABELS,
    DEFAULT_CONTRAST,
    DEFAULT_SITE,
    SYSTEM_PROMPT,
)

FEWSHOT_LEAD = "Here are some of your behaviors and your level of recognition towards them;"
DEFAULT_FRAMING = (
    "turns"  # of the retrieved answers: chosen by measurement (docs/results/2026-12-04-chosen-space.md)
)
# `retrieval`'s order; `retrieval-same-key-turns` and the reader (trained on it) keep answer_memory's DEFAULT_ORDER
DEFAULT_RETRIEVAL_ORDER = "inventory"


def _paper(_answers: Mapping[int, int]) -> str:
    """The paper's system prompt, the same for everyone."""
    return SYSTEM_PROMPT


def fewshot_prompt(alignment: Mapping[int, int]) -> str:
    """The paper's few-shot system prompt from the 120 alignment answers (short-form order, 0s left out)."""
    lines = [
        f"{item.text}:{ANSWER_LABELS[alignment[item.number]]}"
        for item in form_items("120")
        if alignment.get(item.number, 0)
    ]
    return FEWSHOT_LEAD + ";".join(lines)


@dataclass(frozen=True)
class Method:
    name: str
    system_prompt: Callable[[Mapping[int, int]], str]  # alignment answers -> system prompt
    steered: bool  # uses the person's PAS vector
    personal: bool  # depends on the subject at all (False: asked once for every subject)
    contrast: str = DEFAULT_CONTRAST  # steered methods: align's --contrast
    site: str = DEFAULT_SITE  # steered methods: align's --site
    keyed_by: str | None = None  # one vector per item group (inventory.ITEM_GROUPINGS), questionnaire only
    memory: str | None = None  # the framing of the person's retrieved answers (answer_memory.FRAMINGS)
    same_key: bool = False  # retrieve only answers keyed the way the question is
    order: str = DEFAULT_ORDER  # the order the retrieved answers are shown in (answer_memory.ORDERS)
    reader: bool = False  # asked with the model's profile-reader adapter (`paso-local train-reader`)


METHODS: dict[str, Method] = {
    "base": Method("base", _paper, steered=False, personal=False),
    "fewshot": Method("fewshot", fewshot_prompt, steered=False, personal=True),
    "profile-prompt": Method("profile-prompt", profile_prompt, steered=False, personal=True),
    "pas": Method("pas", _paper, steered=True, personal=True),
    "pas+fewshot": Method("pas+fewshot", fewshot_prompt, steered=True, personal=True),
    # the contrast and site variants, for measuring them apart (`pas` lets cross-validation pick between them):
    "pas-letter": Method("pas-letter", _paper, steered=True, personal=True, contrast="letter"),
    "pas-statement": Method("pas-statement", _paper, steered=True, personal=True, contrast="statement"),
    "pas-negation": Method("pas-negation", _paper, steered=True, personal=True, contrast="negation"),
    "pas-auto": Method("pas-auto", _paper, steered=True, personal=True, contrast="auto"),
    "pas-by-domain": Method("pas-by-domain", _paper, steered=True, personal=True, keyed_by="domain"),
    "pas-by-domain-key": Method(
        "pas-by-domain-key", _paper, steered=True, personal=True, keyed_by="domain+key"
    ),
    # the default retrieval: same-keyed answers as earlier turns, the best measured, in the inventory's order:
    # as accurate as closest-last (2.99 against 2.97 on dev 10-14) and about 3x fewer contexts to evaluate
    # (docs/results/2026-12-04-same-key-and-reader.md)
    "retrieval": Method(
        "retrieval",
        _paper,
        steered=False,
        personal=True,
        memory=DEFAULT_FRAMING,
        same_key=True,
        order=DEFAULT_RETRIEVAL_ORDER,
    ),
    "retrieval+profile": Method(
        "retrieval+profile",
        profile_prompt,
        steered=False,
        personal=True,
        memory=DEFAULT_FRAMING,
        same_key=True,
        order=DEFAULT_RETRIEVAL_ORDER,
    ),
    **{
        f"retrieval-{framing}": Method(
            f"retrieval-{framing}", _paper, steered=False, personal=True, memory=framing
        )
        for framing in ("turns", "list", "both")
    },
    **{
        f"retrieval-same-key-{framing}": Method(
            f"retrieval-same-key-{framing}",
            _paper,
            steered=False,
            personal=True,
            memory=framing,
            same_key=True,
        )
        for framing in ("turns", "list")
    },
    # the same answers in the inventory's order: one context for all the questions that retrieve them
    "retrieval-same-key-turns-inventory": Method(
        "retrieval-same-key-turns-inventory",
        _paper,
        steered=False,
        personal=True,
        memory="turns",
        same_key=True,
        order="inventory",
    ),
    "reader": Method(
        "reader", _paper, steered=False, personal=True, memory="turns", same_key=True, reader=True
    ),
    "reader-profile": Method(
        "reader-profile",
        profile_prompt,
        steered=False,
        personal=True,
        memory="turns",
        same_key=True,
        reader=True,
    ),
    "pas-residual": Method(
        "pas-residual",
        _paper,
        steered=True,
        personal=True,
        contrast="letter",
        site="residual",
    ),
}


TRAINED_METHODS = ("dpo", "ppo")  # LoRA baselines trained per subject; run by evaluation.lora_methods


def parse_methods(text: str) -> list[Method]:
    """`--methods a,b,...` -> Methods in the order given (duplicates removed)."""
    names = [n.strip() for n in (text or "").split(",") if n.strip()]
    if not names:
        raise PasoError(f"--methods: name at least one of {', '.join(METHODS)}")
    unknown = [n for n in names if n not in METHODS]
    if unknown:
        known = ", ".join([*METHODS, *TRAINED_METHODS])
        raise PasoError(f"--methods: unknown method {', '.join(unknown)}; choose from {known}")
    return [METHODS[n] for n in dict.fromkeys(names)]
