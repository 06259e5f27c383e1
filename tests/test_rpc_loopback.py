"""SmolLM2 through a llama.cpp rpc-server on 127.0.0.1 (started and stopped here) gives the same greedy tokens
as the local model, unsteered and steered, and the vector still steers. Runs only with an RPC build of
llama-cpp-python (CMAKE_ARGS="-DGGML_RPC=on"); skipped, saying so, otherwise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.llm.generation import Sampling
from paso_local.llm.llama_native import rpc_supported
from paso_local.llm.runtime import Runtime
from paso_local.llm.steering import UNSTEERED, Steering

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not rpc_supported(), reason="llama-cpp-python was built without RPC (-DGGML_RPC=on)"),
]

GREEDY = Sampling(temperature=0.0, max_tokens=24)
QUESTION = [{"role": "user", "content": "Describe your ideal weekend in two sentences."}]


def random_vector(path, n_embd: int, n_layer: int, norm: float = 6.0):
    rng = np.random.default_rng(0)
    directions = {}
    for layer in range(1, n_layer):
        v = rng.standard_normal(n_embd)
        directions[layer] = (v / np.linalg.norm(v) * norm).astype(np.float32)
    write_control_vector(ControlVector("llama", directions, n_embd, {"model_file": "test"}), path)
    return path


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def replies(runtime: Runtime, vector_path) -> tuple[str, str]:
    runtime.load_vector(vector_path)
    plain = "".join(runtime.stream_chat(QUESTION, sampling=GREEDY, steering=UNSTEERED))
    steered = "".join(
        runtime.stream_chat(QUESTION, sampling=GREEDY, steering=Steering(enabled=True, strength=1.0))
    )
    return plain, steered


def test_rpc_loopback_gives_the_local_tokens_steered_and_unsteered(smollm2_path, tmp_path):
    from rpc_server import start_loopback_server

    with Runtime.open(smollm2_path, n_ctx=512, n_threads=1) as local:
        vector = random_vector(tmp_path / "v.gguf", local.info.n_embd, local.info.n_layer)
        local_plain, local_steered = replies(local, vector)
    server, endpoint = start_loopback_server()
    try:
        before = resident_bytes(server.pid)
        with Runtime.open(smollm2_path, n_ctx=512, n_threads=1, rpc_servers=[endpoint]) as remote:
            # the weights went to the server (a load that silently stayed on the CPU would pass the rest)
            assert resident_bytes(server.pid) - before > 0.5 * smollm2_path.stat().st_size
            remote_plain, remote_steered = replies(remote, vector)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert local_steered != local_plain  # the vector steers
    assert remote_plain == local_plain
    assert remote_steered == local_steered
