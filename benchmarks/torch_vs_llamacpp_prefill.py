"""Prefill speed of the torch converter next to llama.cpp's, on the same prompts (check-model's prompt set).

torch runs the prompts as right-padded batches (as the converter does), once dequantising block by block with
the default 2-block cache (a cold pass: what a single pass costs) and once with every block already
dequantised (warm: the compute alone, at the memory cost of the whole model in float32). llama.cpp evaluates
each prompt from an empty cache. Rates count real prompt tokens only. Rounds alternate torch and llama.cpp, so
a busy machine slows both alike; the median of the rounds is reported, with the ratio torch / llama.cpp.

Usage: .venv/bin/python benchmarks/torch_vs_llamacpp_prefill.py [--model PATH] [--prompts 20] [--threads 2]
       [--rounds 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from paso_local.converters.check_model import (
    TOKENS_PER_BATCH,
    LlamaLogits,
    peak_rss_mb,
    prompt_tokens,
    token_batches,
)
from paso_local.converters.model import load_model, pad_right
from paso_local.llm.chat_format import ChatFormat
from paso_local.llm.modelfiles import resolve_model


def torch_prefill_seconds(model, prompts: list[list[int]]) -> float:
    started = time.perf_counter()
    for batch in token_batches(prompts, TOKENS_PER_BATCH):
        tokens, lengths = pad_right([prompts[i] for i in batch], 0)
        last = lengths - 1
        h = model.run_blocks(model.embed(tokens))
        model.final_logits(h[torch.arange(len(batch)), last][:, None])
    return time.perf_counter() - started


def llama_prefill_seconds(llama: LlamaLogits, prompts: list[list[int]]) -> float:
    started = time.perf_counter()
    for tokens in prompts:
        llama.last_logits(tokens)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    path = resolve_model(args.model)
    torch.set_num_threads(args.threads)
    chat = ChatFormat.from_model(path)
    prompts = prompt_tokens(chat, args.prompts)
    chat.close()
    n_tokens = sum(len(p) for p in prompts)
    n_ctx = max(64, -(-max(len(p) for p in prompts) // 64) * 64)
    cold, warm, llama_rates = [], [], []
    model = load_model(path, cache_blocks=2)
    warm_model = load_model(path, cache_blocks=model.config.n_layer)
    torch_prefill_seconds(warm_model, prompts)  # dequantise everything once
    with LlamaLogits(path, n_ctx=n_ctx, n_threads=args.threads) as llama:
        llama_prefill_seconds(llama, prompts[:2])  # warm-up
        for _ in range(args.rounds):
            cold.append(n_tokens / torch_prefill_seconds(model, prompts))
            warm.append(n_tokens / torch_prefill_seconds(warm_model, prompts))
            llama_rates.append(n_tokens / llama_prefill_seconds(llama, prompts))
    result = {
        "model": path.name,
        "prompts": len(prompts),
        "tokens": n_tokens,
        "threads": args.threads,
        "llama_cpp_tokens_per_s": round(statistics.median(llama_rates), 1),
        "torch_cold_tokens_per_s": round(statistics.median(cold), 1),
        "torch_warm_tokens_per_s": round(statistics.median(warm), 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    result["cold_ratio"] = round(result["torch_cold_tokens_per_s"] / result["llama_cpp_tokens_per_s"], 3)
    result["warm_ratio"] = round(result["torch_warm_tokens_per_s"] / result["llama_cpp_tokens_per_s"], 3)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{path.name}: {len(prompts)} prompts, {n_tokens} tokens, "
        f"{args.threads} threads, {args.rounds} rounds"
    )
    print(f"  llama.cpp prefill                     {result['llama_cpp_tokens_per_s']:>8.1f} tokens/s")
    print(
        f"  torch, dequantising (2-block cache)   {result['torch_cold_tokens_per_s']:>8.1f} tokens/s"
        f"   ratio {result['cold_ratio']:.3f}"
    )
    print(
        f"  torch, all blocks dequantised         {result['torch_warm_tokens_per_s']:>8.1f} tokens/s"
        f"   ratio {result['warm_ratio']:.3f}"
    )


if __name__ == "__main__":
    main()
