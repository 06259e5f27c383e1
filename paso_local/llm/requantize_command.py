"""`paso-local requantize`: a GGUF copied once into a faster type, the type given or timed here."""

from __future__ import annotations

import json
from typing import Any

from paso_local.errors import PasoError
from paso_local.llm.kernel_choice import fastest_copy
from paso_local.llm.requantize import requantize


def run_requantize(args: Any) -> int:
    """`paso-local requantize`: the copy made (or found), and how to use it."""
    from paso_local.llm.modelfiles import resolve_model
    from paso_local.llm.runtime import prompt_speed

    if args.threads is not None and args.threads < 1:
        raise PasoError(f"--threads {args.threads}: use 1 or more")
    source = resolve_model(args.model)
    if args.type:
        made = requantize(source, args.type, threads=args.threads)
        speeds, seconds = {}, made.seconds
    else:  # the type fastest here, by the same timing as the embedded model's copy
        choice = fastest_copy(source, args.threads, prompt_speed)
        made, speeds, seconds = choice.copy, choice.tokens_per_second, choice.seconds
    if args.json:
        print(
            json.dumps(
                {
                    "source": str(source),
                    "copy": str(made.path),
                    "type": made.type_name,
                    "sha256": made.sha256,
                    "seconds": round(seconds, 2),
                    "tokens_per_second": {k: round(v, 1) for k, v in speeds.items()},
                }
            )
        )
        return 0
    how = f"made in {seconds:.1f} s" if seconds else "already there"
    measured = ", ".join(f"{name} {rate:.0f}" for name, rate in speeds.items())
    faster = f", the faster here: {measured} tokens/s" if measured else ""
    print(f"{made.type_name} copy of {source.name} ({how}{faster}): {made.path}")
    print(f"Use it with --model {made.path} (and run `paso-local align --model {made.path}` for its vector).")
    return 0
