"""Wall time and peak memory of the DPO and PPO baselines per subject (training only, hyper-parameter choice
included), on dev subjects. The person-independent setup (model load, frozen activations, reference answers)
is reported once. Peak memory is the process's VmHWM, reset before each subject (Linux).

    .venv/bin/python benchmarks/dpo_ppo_cost.py --subjects /work/shared/data/papi_dev.json --count 3 \
        --methods dpo,ppo [--model PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paso_local.converters.lora_align import LoraAligner, peak_rss_mb, reset_peak_rss  # noqa: E402
from paso_local.evaluation.split import split_subject  # noqa: E402
from paso_local.llm.modelfiles import resolve_model  # noqa: E402
from paso_local.person.subjects import load_subjects  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", required=True)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--methods", default="dpo,ppo")
    parser.add_argument("--model")
    parser.add_argument("--json")
    args = parser.parse_args()
    import torch

    model_path = resolve_model(args.model)
    reset_peak_rss()
    started = time.perf_counter()
    aligner = LoraAligner(model_path, show_progress=False)
    setup = {"seconds": round(time.perf_counter() - started, 2), "peak_rss_mb": round(peak_rss_mb(), 1)}
    print(
        f"setup (model, frozen activations, reference): {setup['seconds']:.1f} s, "
        f"peak {setup['peak_rss_mb']:.0f} MB"
    )
    print(f"torch threads {torch.get_num_threads()}, model {model_path.name}")
    subjects = load_subjects(Path(args.subjects))[args.start : args.start + args.count]
    rows = []
    for subject in map(split_subject, subjects):
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            result = aligner.align({n: a for n, a in subject.alignment.items() if a}, method)
            row = {
                "case": subject.case,
                "index": subject.index,
                "method": method,
                "seconds": round(result.seconds, 2),
                "peak_rss_mb": round(result.peak_rss_mb, 1),
                "chosen": result.chosen,
                "history": [round(h, 4) for h in result.history],
            }
            rows.append(row)
            print(
                f"subject {subject.index} ({subject.case}) {method}: {row['seconds']:.1f} s, "
                f"peak {row['peak_rss_mb']:.0f} MB, chosen lr {result.chosen['lr']:g} "
                f"epochs {result.chosen['epochs']}",
                flush=True,
            )
    for method in {r["method"] for r in rows}:
        mine = [r for r in rows if r["method"] == method]
        print(
            f"{method}: mean {sum(r['seconds'] for r in mine) / len(mine):.1f} s per subject, "
            f"max peak {max(r['peak_rss_mb'] for r in mine):.0f} MB over {len(mine)} subjects"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"setup": setup, "subjects": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
