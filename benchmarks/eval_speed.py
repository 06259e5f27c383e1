"""How `paso-local eval` should reuse the KV cache of the prefix the held-out questions share.

For the base system prompt (short) and the few-shot one (the 120 answers, ~2k tokens), asks the first N
held-out items four ways through the same llama.cpp context and prints seconds, tokens evaluated and the
largest difference of the answer-position logits from evaluating every prompt whole:

- full:        reset, evaluate the whole prompt of every item
- truncate:    evaluate the shared prefix once; per item cut the cache back to it (n_tokens) and evaluate the
               suffix (what paso_local.evaluation.asking does)
- state:       evaluate the prefix once, save_state(); per item load_state() and evaluate the suffix
- generate:    llama-cpp-python's own longest-prefix reuse (Llama.generate, first token)

Usage: .venv/bin/python benchmarks/eval_speed.py [--items 8] [--threads 1] [--model PATH]
Timings on a shared machine vary: compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from paso_local.evaluation.asking import common_prefix_length
from paso_local.evaluation.methods import fewshot_prompt
from paso_local.evaluation.split import split_subject
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.runtime import Runtime
from paso_local.person.inventory import held_out_items
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT, item_messages
from paso_local.person.subjects import load_subjects

DEV_SUBJECTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papi_dev.json"


def logits(llm) -> np.ndarray:
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def full(llm, prompts, prefix):
    out, tokens = [], 0
    for p in prompts:
        llm.reset()
        llm.eval(p)
        tokens += len(p)
        out.append(logits(llm))
    return out, tokens


def truncate(llm, prompts, prefix):
    llm.reset()
    llm.eval(prompts[0][:prefix])
    out, tokens = [], prefix
    for p in prompts:
        llm.n_tokens = prefix
        llm.eval(p[prefix:])
        tokens += len(p) - prefix
        out.append(logits(llm))
    return out, tokens


def state(llm, prompts, prefix):
    llm.reset()
    llm.eval(prompts[0][:prefix])
    saved = llm.save_state()
    out, tokens = [], prefix
    for p in prompts:
        llm.load_state(saved)
        llm.eval(p[prefix:])
        tokens += len(p) - prefix
        out.append(logits(llm))
    return out, tokens


def generate(llm, prompts, prefix):
    llm.reset()
    out, tokens = [], 0
    for p in prompts:
        cached = list(llm._input_ids)
        reused = next((k for k, (a, b) in enumerate(zip(cached, p, strict=False)) if a != b), len(cached))
        next(iter(llm.generate(p, temp=0.0, top_k=1, reset=True)))
        tokens += len(p) - reused
        out.append(logits(llm))
    return out, tokens


STRATEGIES = {"full": full, "truncate": truncate, "state": state, "generate": generate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--model")
    parser.add_argument("--subjects", default=str(DEV_SUBJECTS))
    parser.add_argument("--json", help="also write the figures as JSON here")
    args = parser.parse_args()

    subject = split_subject(load_subjects(Path(args.subjects))[0])
    prompts_by_system = {"base": SYSTEM_PROMPT, "fewshot": fewshot_prompt(subject.alignment)}
    items = held_out_items()[: args.items]
    runtime = Runtime.open(resolve_model(args.model), n_ctx=4096, n_threads=args.threads)
    llm = runtime._llm
    fmt = runtime.chat_format
    table = Table(title=f"Asking {len(items)} held-out items ({runtime.info.name}, {args.threads} thread(s))")
    for column in (
        "system prompt",
        "strategy",
        "prefix",
        "tokens",
        "seconds",
        "s/item",
        "vs full",
        "max |dlogit|",
    ):
        table.add_column(column, justify="left" if column in ("system prompt", "strategy") else "right")
    rows = []
    for name, system in prompts_by_system.items():
        prompts = [fmt.encode_chat(item_messages(i, system)) for i in items]
        prefix = common_prefix_length(prompts)
        reference = None
        base_seconds = None
        for strategy, run in STRATEGIES.items():
            started = time.perf_counter()
            result, tokens = run(llm, prompts, prefix)
            seconds = time.perf_counter() - started
            if reference is None:
                reference, base_seconds = result, seconds
            diff = max(float(np.abs(a - b).max()) for a, b in zip(reference, result, strict=True))
            row = {
                "system": name,
                "strategy": strategy,
                "prefix_tokens": prefix,
                "tokens": tokens,
                "seconds": round(seconds, 2),
                "seconds_per_item": round(seconds / len(items), 3),
                "speedup": round(base_seconds / seconds, 2),
                "max_logit_diff": diff,
            }
            rows.append(row)
            table.add_row(
                name,
                strategy,
                str(prefix),
                str(tokens),
                f"{seconds:.2f}",
                f"{seconds / len(items):.3f}",
                f"{base_seconds / seconds:.2f}x",
                f"{diff:.2g}",
            )
    runtime.close()
    Console().print(table)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
