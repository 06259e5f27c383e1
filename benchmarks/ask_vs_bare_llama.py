"""`paso-local ask` end to end (interpreter start-up included) vs a minimal llama-cpp-python script doing the
same generation (target: <= 1.15x).

Both are fresh processes, timed from spawn to exit, in alternating rounds (a busy machine slows both alike).
Same model, prompt, chat template, sampling (temperature 0.7, top-k 40, top-p 0.95, min-p 0.05, repeat
penalty 1.1, seed 0), context (4096) and thread count; the table says whether both wrote the same text. `ask`
runs in a fresh PASO_LOCAL_HOME (no profile: unsteered, like the script); a last row adds a --vector.

Usage: .venv/bin/python benchmarks/ask_vs_bare_llama.py [--threads 2] [--rounds 5] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.modelfiles import resolve_model

PROMPT = "Give me three tips for a good night's sleep."

# The bare script. The one line beyond plain llama-cpp-python turns off llama.cpp's extra weight buffers
# (AMX repacking), as paso-local does by default: on this machine's CPU build they crash llama.cpp.
BARE_SCRIPT = """
import sys
import llama_cpp
import llama_cpp.llama_cpp as low

_defaults = low.llama_model_default_params
def _params():
    params = _defaults()
    params.use_extra_bufts = False
    return params
low.llama_model_default_params = _params

model, prompt, max_tokens, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llm = llama_cpp.Llama(model_path=model, n_ctx=4096, n_threads=threads, n_threads_batch=threads, seed=0,
                      verbose=False)
stream = llm.create_chat_completion(
    [{"role": "user", "content": prompt}], stream=True, max_tokens=max_tokens, temperature=0.7, top_k=40,
    top_p=0.95, min_p=0.05, repeat_penalty=1.1, seed=0,
)
for chunk in stream:
    sys.stdout.write(chunk["choices"][0]["delta"].get("content", ""))
    sys.stdout.flush()
sys.stdout.write("\\n")
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{command[0]} failed:\n{done.stderr}")
    return elapsed, done.stdout.strip()


def small_vector(path: Path, n_embd: int = 576, n_layer: int = 30) -> Path:
    rng = np.random.default_rng(0)
    directions = {
        layer: (rng.standard_normal(n_embd) * 0.05).astype(np.float32) for layer in range(1, n_layer)
    }
    return write_control_vector(ControlVector("llama", directions, n_embd), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    args = parser.parse_args()

    model = str(resolve_model(args.model))
    cli = shutil.which("paso-local", path=str(Path(sys.executable).parent)) or "paso-local"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bare.py"
        script.write_text(BARE_SCRIPT)
        env = {**os.environ, "PASO_LOCAL_HOME": str(Path(tmp) / "home")}
        common = [PROMPT, "--max-tokens", str(args.max_tokens), "--threads", str(args.threads)]
        if args.model:
            common += ["--model", model]
        commands = {
            "minimal llama-cpp-python": [
                sys.executable,
                str(script),
                model,
                PROMPT,
                str(args.max_tokens),
                str(args.threads),
            ],
            "paso-local ask": [cli, "ask", *common],
        }
        if not args.model:
            vector = small_vector(Path(tmp) / "v.gguf")
            commands["paso-local ask --vector"] = [cli, "ask", *common, "--vector", str(vector)]
        times: dict[str, list[float]] = {name: [] for name in commands}
        texts: dict[str, str] = {}
        timed(commands["paso-local ask"], env)  # warm the page cache and the model-hash cache once
        for _ in range(args.rounds):
            for name, command in commands.items():
                seconds, text = timed(command, env)
                times[name].append(seconds)
                texts[name] = text

    base = statistics.median(times["minimal llama-cpp-python"])
    table = Table(
        title=f"One answer of up to {args.max_tokens} tokens, {args.threads} thread(s), "
        f"{args.rounds} rounds, {Path(model).name}"
    )
    for column in ("", "median s", "min s", "max s", "x minimal", "same text"):
        table.add_column(column, justify="right")
    for name, values in times.items():
        same = "yes" if texts[name] == texts["minimal llama-cpp-python"] else "no"
        table.add_row(
            name,
            f"{statistics.median(values):.2f}",
            f"{min(values):.2f}",
            f"{max(values):.2f}",
            f"{statistics.median(values) / base:.3f}",
            same,
        )
    console = Console()
    console.print(table)
    console.print(f"target: paso-local ask <= 1.15x minimal. Load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
