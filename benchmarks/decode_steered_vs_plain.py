"""Decode speed with a control vector applied vs unsteered (target: steered >= 0.97x unsteered).

One SmolLM2 context, rounds alternating plain and steered (so a busy machine slows both alike); each round
streams a greedy reply of up to --tokens tokens through `Runtime.stream_chat` and records the decode rate
(tokens after the first / their time, prompt excluded). The vector is random (seeded) over all steerable
blocks, norm 1.0 per block: small, so both replies run to the same length. Its cost is one add per block
whatever its values.

Usage: .venv/bin/python benchmarks/decode_steered_vs_plain.py [--threads 2] [--rounds 5] [--tokens 128]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.generation import Sampling
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.runtime import Runtime
from paso_local.llm.steering import UNSTEERED, Steering

PROMPT = [{"role": "user", "content": "Count from 1 to 200, separated by commas."}]


def random_vector(path: Path, n_embd: int, n_layer: int, norm: float = 1.0) -> Path:
    rng = np.random.default_rng(0)
    directions = {}
    for layer in range(1, n_layer):
        v = rng.standard_normal(n_embd)
        directions[layer] = (v / np.linalg.norm(v) * norm).astype(np.float32)
    return write_control_vector(ControlVector("llama", directions, n_embd), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()

    sampling = Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=args.tokens)
    rates: dict[str, list[float]] = {"unsteered": [], "steered": []}
    tokens: dict[str, list[int]] = {"unsteered": [], "steered": []}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Runtime.open(resolve_model(args.model), n_ctx=1024, n_threads=args.threads) as runtime,
    ):
        info = runtime.info
        runtime.load_vector(random_vector(Path(tmp) / "v.gguf", info.n_embd, info.n_layer))
        runtime.stream_chat(PROMPT, sampling=Sampling(max_tokens=8), steering=UNSTEERED).collect()  # warm-up
        for _ in range(args.rounds):
            for name, steering in (("unsteered", UNSTEERED), ("steered", Steering())):
                generation = runtime.stream_chat(PROMPT, sampling=sampling, steering=steering)
                generation.collect()
                rates[name].append(generation.stats.tokens_per_second)
                tokens[name].append(generation.stats.tokens)

    table = Table(title=f"Decode speed, {info.file_name}, {args.threads} thread(s), {args.rounds} rounds")
    for column in ("", "tokens/round", "median tok/s", "min", "max"):
        table.add_column(column, justify="right")
    for name in rates:
        r = rates[name]
        table.add_row(
            name,
            str(statistics.median(tokens[name])),
            f"{statistics.median(r):.1f}",
            f"{min(r):.1f}",
            f"{max(r):.1f}",
        )
    ratio = statistics.median(rates["steered"]) / statistics.median(rates["unsteered"])
    paired = statistics.median(s / u for s, u in zip(rates["steered"], rates["unsteered"], strict=True))
    console = Console()
    console.print(table)
    console.print(
        f"steered / unsteered: {ratio:.3f} (medians), {paired:.3f} (median of paired rounds); "
        f"target >= 0.97. Load average: {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
