"""`paso-local ask`: one question, the answer streamed to stdout (or one JSON object with --json)."""

from __future__ import annotations

import argparse
import json
import sys

from paso_local.errors import PasoError


def read_prompt(prompt: str) -> str:
    """The prompt argument, or stdin for "-"."""
    text = sys.stdin.read() if prompt == "-" else prompt
    if not text.strip():
        raise PasoError("the prompt is empty; give a question (or pipe one in with `-`)")
    return text.strip()


def run_ask(args: argparse.Namespace) -> int:
    from paso_local.modelfiles import resolve_model
    from paso_local.runtime import Runtime, Sampling, Steering
    from paso_local.vector_store import choose_vector

    if args.max_tokens < 1:
        raise PasoError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    prompt = read_prompt(args.prompt)
    model = resolve_model(args.model)
    vector_path, notice = choose_vector(args.profile, model, explicit=args.vector, no_steer=args.no_steer)
    if notice:
        print(notice, file=sys.stderr)
    strength = 1.0 if args.strength is None else float(args.strength)
    with Runtime.open(
        model, n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers
    ) as runtime:
        adapter = None
        if getattr(args, "adapter", None):
            from paso_local.lora_adapter import apply_lora

            adapter = apply_lora(runtime, args.adapter)
        steering = Steering(enabled=False)
        if vector_path is not None:
            loaded = runtime.load_vector(vector_path)
            for warning in loaded.warnings:
                print(f"Warning: {warning}", file=sys.stderr)
            steering = Steering(enabled=True, strength=strength)
        generation = runtime.stream_chat(
            [{"role": "user", "content": prompt}],
            sampling=Sampling(max_tokens=args.max_tokens),
            steering=steering,
        )
        if args.json:
            generation.collect()
        else:
            for piece in generation:
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
        stats = generation.stats
        if adapter is not None:
            adapter.close()
    if args.json:
        result = {
            "text": generation.text,
            "tokens": stats.tokens,
            "tokens_per_second": round(stats.tokens_per_second, 2),
            "steered": stats.steered,
            "strength": stats.strength if stats.steered else 0.0,
            "adapter": getattr(args, "adapter", None),
        }
        print(json.dumps(result, ensure_ascii=False))
    return 0
