"""align's peak memory against model size: measured on the models given, and projected (the projection
align refuses on, paso_local.converters.align_memory) for them and for an 8B and a 70B Q4_K_M.

    .venv/bin/python benchmarks/align_memory.py [--model PATH ...] [--seconds 600] [--subject 3]

Each model: `paso-local align` on a dev subject in a fresh PASO_LOCAL_HOME (activations computed, then the
cross-validation through llama.cpp), its resident memory sampled every 0.5 s from /proc (VmHWM, and the
anonymous and file-backed parts), stopped --seconds into the cross-validation (after the activations): the
peak's parts are all alive by then (the torch model, the activations and the llama.cpp context).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paso_local.converters.align_memory import gib, projected_align_memory  # noqa: E402
from paso_local.converters.gguf_reader import ModelConfig, read_config  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "papi_dev.json"
# Published shapes (Llama 3.1 8B and 70B) and their Q4_K_M file sizes, for the projection only.
PROJECTED = {
    "Llama-3.1-8B Q4_K_M": (dict(n_layer=32, n_embd=4096, n_head=32, n_head_kv=8, n_ff=14336), 4.92e9),
    "Llama-3.1-70B Q4_K_M": (dict(n_layer=80, n_embd=8192, n_head=64, n_head_kv=8, n_ff=28672), 42.5e9),
}


def shape(n_layer, n_embd, n_head, n_head_kv, n_ff) -> ModelConfig:
    return ModelConfig(
        arch="llama",
        name="projected",
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim=n_embd // n_head,
        n_ff=n_ff,
        vocab_size=128256,
        rms_eps=1e-5,
        rope_base=5e5,
        rope_dim=n_embd // n_head,
        rope_style="neox",
        rope_scale=1.0,
        context_length=131072,
        tied_output=False,
        has_qkv_bias=False,
        has_qk_norm=False,
        has_rope_freqs=True,
    )


def status_kb(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])
    except OSError:
        pass
    return out


def measure(model: Path, seconds: float, subject: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="paso-mem-") as home:
        env = dict(os.environ, PASO_LOCAL_HOME=home)
        paso = [sys.executable, "-m", "paso_local"]
        subprocess.run(
            [*paso, "onboard", "--import", str(DATA), "--index", str(subject)],
            env=env,
            check=True,
            capture_output=True,
        )
        log = Path(home) / "align.log"
        with log.open("w") as out:
            child = subprocess.Popen(
                [*paso, "align", "--model", str(model), "--threads", str(threads)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            peak = {"VmHWM": 0, "RssAnon": 0, "RssFile": 0}
            started = time.monotonic()
            scoring_since = None  # when the activations bar ended (its line is written then, off a terminal)
            while child.poll() is None:
                now = status_kb(child.pid)
                peak = {k: max(v, now.get(k, 0)) for k, v in peak.items()}
                if scoring_since is None and "Model activations" in log.read_text(errors="replace"):
                    scoring_since = time.monotonic()
                if scoring_since is not None and time.monotonic() - scoring_since > seconds:
                    child.terminate()
                    child.wait()
                    break
                time.sleep(0.5)
        return {"peak": peak, "seconds": time.monotonic() - started, "finished": child.returncode == 0}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, action="append", default=[])
    parser.add_argument("--seconds", type=float, default=600.0)
    parser.add_argument("--subject", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print("| model | file | projected peak | measured peak RSS (anon + file) | ratio | run |")
    print("|---|---|---|---|---|---|")
    for model in args.model:
        projection = projected_align_memory(read_config(model), model.stat().st_size)
        got = measure(model, args.seconds, args.subject, args.threads)
        peak = got["peak"]
        run = f"{got['seconds']:.0f} s, {'whole align' if got['finished'] else 'stopped in the cross-validation'}"
        print(
            f"| {model.name} | {gib(model.stat().st_size)} | {gib(projection.total)} | "
            f"{gib(peak['VmHWM'] * 1024)} ({gib(peak['RssAnon'] * 1024)} + {gib(peak['RssFile'] * 1024)}) | "
            f"{peak['VmHWM'] * 1024 / projection.total:.2f} | {run} |",
            flush=True,
        )
    for name, (dims, size) in PROJECTED.items():
        projection = projected_align_memory(shape(**dims), int(size))
        print(
            f"| {name} (projected) | {gib(size)} | {gib(projection.total)} | - | - | {projection.describe()} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
