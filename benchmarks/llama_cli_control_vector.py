"""Does llama.cpp's own command-line tool load paso-local's control vector and steer exactly as paso-local does?

Runs llama.cpp's `llama-completion` (or `llama-cli`; built from llama.cpp, not shipped with paso-local) greedily
on one chat-formatted prompt, without and with `--control-vector FILE`, and paso-local's runtime
(llama-cpp-python, `llama_set_adapter_cvec`, strength 1.0) on the same prompt, and prints the three continuations.
At scale 1.0 the file applies the strength align chose, so the steered continuations must be identical.

    .venv/bin/python benchmarks/llama_cli_control_vector.py --binary PATH/llama-completion --vector FILE [--model GGUF]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

PROMPT = "Do you enjoy going to large parties? Answer in one sentence."


def tool_continuation(binary: str, model: Path, prompt: str, tokens: int, vector: Path | None) -> str:
    command = [binary, "-m", str(model), "-p", prompt, "-n", str(tokens), "--temp", "0", "-no-cnv"]
    # like paso-local's runtime: no weight repacking, no flash attention (the tool turns it on by default)
    command += ["--no-repack", "-fa", "off", "-t", "2", "--no-display-prompt", "--seed", "0", "-c", "512"]
    if vector is not None:
        command += ["--control-vector", str(vector)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"{binary} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def paso_continuation(model: Path, prompt: str, tokens: int, vector: Path | None) -> str:
    from paso_local.llm.runtime import Runtime
    from paso_local.llm.steering import Steering

    with Runtime.open(model, n_ctx=512, n_threads=2) as runtime:
        if vector is not None:
            runtime.load_vector(vector)
            runtime.set_steering(Steering(enabled=True, strength=1.0))
        out = runtime._llm.create_completion(
            prompt, max_tokens=tokens, temperature=0.0, top_k=1, repeat_penalty=1.0, seed=0
        )
    return out["choices"][0]["text"].strip()


def main() -> int:
    from paso_local.llm.chat_format import ChatFormat
    from paso_local.llm.modelfiles import resolve_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="llama.cpp's llama-completion (or llama-cli) program")
    parser.add_argument("--vector", required=True, type=Path, help="a control vector from `paso-local align`")
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--tokens", type=int, default=24)
    args = parser.parse_args()
    model = resolve_model(args.model)
    chat = ChatFormat.from_model(model)
    # the tool drops a prompt's trailing newline: give both sides the prompt without it
    prompt = chat.render([{"role": "user", "content": PROMPT}], add_generation_prompt=True).rstrip("\n")
    chat.close()
    plain = tool_continuation(args.binary, model, prompt, args.tokens, None)
    steered = tool_continuation(args.binary, model, prompt, args.tokens, args.vector)
    ours = paso_continuation(model, prompt, args.tokens, args.vector)
    ours_plain = paso_continuation(model, prompt, args.tokens, None)
    print(f"llama.cpp tool, no vector:    {plain!r}")
    print(f"paso-local runtime, no vector:    {ours_plain!r}")
    print(f"llama.cpp tool, --control-vector: {steered!r}")
    print(f"paso-local runtime, strength 1.0: {ours!r}")
    same = steered == ours
    print(
        f"steered continuations identical: {same}; the vector changed the tool's output: {steered != plain}"
    )
    return 0 if same and steered != plain else 1


if __name__ == "__main__":
    sys.exit(main())
