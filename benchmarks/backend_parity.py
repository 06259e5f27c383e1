"""Does a model offloaded to a GPU, or split over llama.cpp rpc-servers, answer like the CPU, steered too, and
what does it cost? For a person with a GPU build (CMAKE_ARGS="-DGGML_CUDA=on" etc.) or an RPC build
(-DGGML_RPC=on) of llama-cpp-python; nothing in the suite or CI needs either.

    .venv/bin/python benchmarks/backend_parity.py --gpu [--model PATH]
    .venv/bin/python benchmarks/backend_parity.py --rpc HOST:PORT[,...] [--model PATH]
    .venv/bin/python benchmarks/backend_parity.py --rpc loopback      (starts an rpc-server on 127.0.0.1)

Both runtimes load the same model in this process: the CPU one first (no layers offloaded), then the other
(every layer offloaded). For each: the greedy reply to a fixed question unsteered and steered (a seeded
random vector, norm --norm per block), the five-option distribution of --items questionnaire items steered
(through the same scorer eval uses), and decode speed. Printed: whether the tokens are the same, the largest
option-probability difference, decode tokens/s of each, and the steered / unsteered speed ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # rpc_server: the loopback server the tests use

from paso_local.llm.controlvector import ControlVector, write_control_vector  # noqa: E402
from paso_local.llm.generation import Sampling  # noqa: E402
from paso_local.llm.llama_native import llama_api, rpc_supported  # noqa: E402
from paso_local.llm.modelfiles import resolve_model  # noqa: E402
from paso_local.llm.rpc import parse_servers  # noqa: E402
from paso_local.llm.runtime import Runtime  # noqa: E402
from paso_local.llm.steered_scoring import SteeredScorer  # noqa: E402
from paso_local.llm.steering import UNSTEERED, Steering  # noqa: E402
from paso_local.person.inventory import held_out_items  # noqa: E402

QUESTION = [{"role": "user", "content": "Count from 1 to 100, separated by commas."}]


def random_directions(n_embd: int, n_layer: int, norm: float) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for layer in range(1, n_layer):
        v = rng.standard_normal(n_embd)
        out[layer] = (v / np.linalg.norm(v) * norm).astype(np.float32)
    return out


def measure(runtime: Runtime, vector: Path, directions: dict, items: list, tokens: int) -> dict:
    runtime.load_vector(vector)
    sampling = Sampling(temperature=0.0, repeat_penalty=1.0, max_tokens=tokens)
    out = {}
    for name, steering in (("unsteered", UNSTEERED), ("steered", Steering(enabled=True, strength=1.0))):
        generation = runtime.stream_chat(QUESTION, sampling=sampling, steering=steering)
        out[name] = "".join(generation)
        out[f"{name}_tps"] = generation.stats.tokens_per_second
    runtime.set_steering(UNSTEERED)
    out["options"] = SteeredScorer(runtime).score(items, directions).dist
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--gpu", action="store_true", help="offload every layer to the GPU")
    target.add_argument("--rpc", metavar="HOST:PORT[,...]|loopback")
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--items", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--norm", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.gpu and not llama_api().llama_supports_gpu_offload():
        raise SystemExit(
            "this llama-cpp-python has no GPU backend: build it with e.g. CMAKE_ARGS=-DGGML_CUDA=on"
        )
    if args.rpc and not rpc_supported():
        raise SystemExit('this llama-cpp-python has no RPC backend: build it with CMAKE_ARGS="-DGGML_RPC=on"')
    model = resolve_model(args.model)
    items = held_out_items()[: args.items]
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        with Runtime.open(model, n_ctx=1024, n_threads=args.threads, n_gpu_layers=0) as cpu:
            directions = random_directions(cpu.info.n_embd, cpu.info.n_layer, args.norm)
            vector = write_control_vector(
                ControlVector(cpu.info.architecture, directions, cpu.info.n_embd), Path(tmp) / "v.gguf"
            )
            reference = measure(cpu, vector, directions, items, args.tokens)
        if args.rpc == "loopback":
            from rpc_server import start_loopback_server

            server, endpoint = start_loopback_server()
            servers = (endpoint,)
        else:
            servers = parse_servers(args.rpc) if args.rpc else ()
        try:
            with Runtime.open(
                model, n_ctx=1024, n_threads=args.threads, n_gpu_layers=-1, rpc_servers=servers
            ) as other:
                result = measure(other, vector, directions, items, args.tokens)
        finally:
            if server is not None:
                server.terminate()
                server.wait()
    name = "GPU" if args.gpu else f"RPC {args.rpc}"
    print(f"model {model.name}; CPU against {name}, every layer offloaded")
    for key in ("unsteered", "steered"):
        same = "same tokens" if result[key] == reference[key] else "DIFFERENT tokens"
        print(
            f"  {key:9s}: {same}; decode {reference[key + '_tps']:.1f} tok/s CPU, {result[key + '_tps']:.1f} "
            f"{name} ({result[key + '_tps'] / reference[key + '_tps']:.2f}x)"
        )
    print(
        f"  steering changes the reply: CPU {reference['steered'] != reference['unsteered']}, "
        f"{name} {result['steered'] != result['unsteered']}"
    )
    print(
        f"  steered / unsteered decode speed on {name}: {result['steered_tps'] / result['unsteered_tps']:.3f}"
    )
    gap = float(np.max(np.abs(np.asarray(result["options"]) - np.asarray(reference["options"]))))
    print(f"  option probabilities of {len(items)} items, steered: largest difference {gap:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
