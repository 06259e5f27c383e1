"""`paso-local ask`: one question, the answer streamed to stdout (or one JSON object with --json)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.llm.controlvector import NO_DIRECTION


def read_prompt(prompt: str) -> str:
    """The prompt argument, or stdin for "-" (as UTF-8, whatever the locale says)."""
    if prompt == "-":
        text = decode_utf8(sys.stdin.buffer.read(), "the question on stdin")
    else:
        text = prompt
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # argv bytes that were not UTF-8 arrive as surrogates
            raise PasoError(
                "the question is not valid UTF-8 text; convert it (e.g. with `iconv -f latin1 -t utf-8`)"
            ) from exc
    if not text.strip():
        raise PasoError("the prompt is empty; give a question (or pipe one in with `-`)")
    return text.strip()


def decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PasoError(
            f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); convert it, "
            "e.g. `iconv -f latin1 -t utf-8 FILE | paso-local ask -`"
        ) from exc


def profile_messages(args: argparse.Namespace, model: Path) -> list[dict]:
    """The profile prompt as the system message, when wanted and the profile has answers. Why there is
    none goes to stderr only when --profile-prompt asked for it (else the vector's notice says it)."""
    from paso_local.person.profile_prompt import profile_prompt_for, profile_prompt_wanted

    if not profile_prompt_wanted(args.profile_prompt, model):
        return []
    text, notice = profile_prompt_for(args.profile)
    if notice and args.profile_prompt:
        print(notice, file=sys.stderr)
    return [{"role": "system", "content": text}] if text else []


def recalled_answers(args: argparse.Namespace, prompt: str, reader: bool):
    """The person's answers that bear on the question (paso_local.person.recall), when --memory (or config)
    asks, or the profile reader is on (it reads them)."""
    from paso_local.person.recall import NOTHING, load_memory, recall_for, recall_wanted

    if not (reader or recall_wanted(getattr(args, "memory", None))):
        return None
    memory, notice = load_memory(args.profile)
    if notice:
        print(notice, file=sys.stderr)
    return recall_for(memory, prompt) if memory is not None else NOTHING


def run_ask(args: argparse.Namespace) -> int:
    from paso_local.llm.generation import Sampling
    from paso_local.llm.modelfiles import resolve_model
    from paso_local.llm.rpc import chosen_servers
    from paso_local.llm.runtime import Runtime
    from paso_local.llm.steering import Steering
    from paso_local.person.vector_store import choose_vector

    if args.max_tokens < 1:
        raise PasoError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    prompt = read_prompt(args.prompt)
    model = resolve_model(args.model)  # a missing or truncated file is refused before any advice on vectors
    vector_path, notice = choose_vector(args.profile, model, explicit=args.vector, no_steer=args.no_steer)
    if notice:
        print(notice, file=sys.stderr)
    from paso_local.llm.lora_adapter import session_adapter

    adapter_path, reader, adapter_notice = session_adapter(
        getattr(args, "adapter", None), getattr(args, "reader", None), model
    )
    if adapter_notice:
        print(adapter_notice, file=sys.stderr)
    messages = profile_messages(args, model)
    recall = recalled_answers(args, prompt, reader)
    strength = 1.0 if args.strength is None else float(args.strength)
    servers = chosen_servers(args.rpc)
    with Runtime.open(
        model, n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers, rpc_servers=servers
    ) as runtime:
        adapter = None
        if adapter_path is not None:
            from paso_local.llm.lora_adapter import apply_lora

            adapter = apply_lora(runtime, adapter_path)
        steering = Steering(enabled=False)
        if vector_path is not None:
            loaded = runtime.load_vector(vector_path)
            for warning in loaded.warnings:
                print(f"Warning: {warning}", file=sys.stderr)
            if loaded.vector.is_empty:
                print(f"{loaded.path.name} is at strength 0: {NO_DIRECTION}.", file=sys.stderr)
            else:
                steering = Steering(enabled=True, strength=strength)
        chat = [*messages, {"role": "user", "content": prompt}]
        if recall is not None:
            from paso_local.person.recall import with_recall

            chat = with_recall(chat, recall)
        generation = runtime.stream_chat(
            chat,
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
            "profile_prompt": bool(messages),
            "answers_in_use": None if recall is None else recall.as_json(),
            "adapter": None if adapter_path is None else str(adapter_path),
            "profile_reader": reader,
        }
        print(json.dumps(result, ensure_ascii=False, allow_nan=False))
    return 0
