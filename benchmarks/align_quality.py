"""Does PAS through llama.cpp answer the held-out questionnaire more like the person? (dev subjects)

For each subject of papi_dev.json: the 120-form answers are the person's (align sees nothing else); the other
180 items are held out. `align` builds and exports the vector (strength chosen by CV on the 120 answers only);
the exported file is loaded into llama.cpp through paso_local.runtime, and the 180 held-out items are asked
with the same prompt, answers read with paso_local.readout (median of the marginalised option distribution).

Reported per subject and on average: Aligned Score of the unsteered model, of the steered model, of the
population-mean reference (per item, the mean answer of the OTHER dev subjects: leave-one-subject-out), of the
person's own median 120-form answer given to every item (acquiescence only); the within-person correlation of
the steered expected answer with the person's held-out answers; how many distinct answers the steered model
gives across the 180 items (1 = the vector works as an "agree more / less with everything" knob).

    .venv/bin/python benchmarks/align_quality.py --subjects 10 [--start 0] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "papi_dev.json"


def llama_option_distributions(llm, prompts: list[list[int]], tokens) -> tuple[np.ndarray, np.ndarray]:
    """llama.cpp: P1 after each prompt and P2 after its "(" (the shared prompt prefix is reused from the KV
    cache)."""
    from paso_local.readout import option_distribution

    n_vocab = llm.n_vocab()
    firsts, afters = [], []
    previous: list[int] = []
    llm.reset()
    for prompt in prompts:
        common = 0
        while common < min(len(previous), len(prompt) - 1) and previous[common] == prompt[common]:
            common += 1
        llm.n_tokens = common
        llm.eval(prompt[common:])
        firsts.append(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).copy())
        llm.eval([tokens.paren_token])
        afters.append(np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(n_vocab,)).copy())
        previous = list(prompt) + [tokens.paren_token]
    return option_distribution(np.stack(firsts), np.stack(afters), tokens)


def torch_readout_set(model, chat_format, items, tokens, checkpoint_block: int):
    """Held-out readout prompts through the torch model: the residual at the checkpoint block, the unsteered
    options (an ItemActivations without head activations, for paso_local.converters.strength.steered_distributions)."""
    import torch

    from paso_local.converters.activations import ItemActivations, answer_logits, pad_right, readout_prompt
    from paso_local.readout import option_distribution

    prompts = [readout_prompt(chat_format, item, tokens) for item in items]
    padded, lengths = pad_right(prompts, chat_format.eos_token_id)
    checkpoint = np.zeros(tuple(padded.shape) + (model.config.n_embd,), dtype=np.float32)
    dist, mass = np.zeros((len(items), 5)), np.zeros(len(items))
    with torch.inference_mode():
        for start in range(0, len(items), 24):
            rows = slice(start, start + 24)
            width = int(lengths[rows].max())
            h = model.run_blocks(model.embed(padded[rows, :width]), 0, checkpoint_block)
            checkpoint[rows, :width] = h.float().numpy()
            h = model.run_blocks(h, checkpoint_block)
            dist[rows], mass[rows] = option_distribution(*answer_logits(model, h, lengths[rows]), tokens)
    empty = np.zeros((len(items), 1, 1, 1), dtype=np.float32)
    return ItemActivations(
        item_numbers=np.array([i.number for i in items]),
        agree=empty,
        disagree=empty,
        paren_tokens=padded.numpy(),
        paren_lengths=lengths.numpy(),
        checkpoint_block=checkpoint_block,
        checkpoint=checkpoint,
        base_dist=dist,
        base_mass=mass,
        residual_norm=np.ones(model.config.n_layer),
    )


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--subjects", type=int, default=10, help="how many subjects (from --start)")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--model", help="GGUF model (default: the embedded SmolLM2)")
    parser.add_argument("--out", type=Path, help="write per-subject results as JSON here")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--backend",
        choices=("llama", "torch"),
        default="llama",
        help="answer the held-out items with llama.cpp (the exported file, via paso_local.runtime) or with "
        "the torch model adding the exported file's direction.L to block outputs (llama.cpp's semantics)",
    )
    args = parser.parse_args()
    os.environ.setdefault("PASO_LOCAL_HOME", tempfile.mkdtemp(prefix="paso-quality-"))

    from paso_local.aligned_score import aligned_score, mean_aligned_score
    from paso_local.converters.align_command import align
    from paso_local.inventory import form_items, held_out_items
    from paso_local.modelfiles import resolve_model
    from paso_local.questionnaire_prompt import item_messages
    from paso_local.readout import OptionTokens, expected_answer, median_answer
    from paso_local.runtime import Runtime, Steering
    from paso_local.subjects import load_subjects

    model_path = resolve_model(args.model)
    subjects = load_subjects(args.data)
    form = {i.number for i in form_items("120")}
    held = held_out_items()
    started = time.perf_counter()
    if args.backend == "llama":
        runtime = Runtime.open(model_path, n_ctx=512, n_threads=args.threads)
        chat_format = runtime.chat_format
        tokens = OptionTokens.from_chat_format(chat_format)
        prompts = [list(chat_format.encode_chat(item_messages(i))) for i in held]
        llm = chat_format.llama
        base_dist, base_mass = llama_option_distributions(llm, prompts, tokens)
    else:
        import torch

        from paso_local.chat_format import ChatFormat
        from paso_local.controlvector import read_control_vector
        from paso_local.converters.align_pipeline import checkpoint_block, load_torch_model
        from paso_local.converters.strength import steered_distributions

        torch.set_num_threads(args.threads)
        chat_format = ChatFormat.from_model(model_path)
        tokens = OptionTokens.from_chat_format(chat_format)
        net = load_torch_model(model_path)
        readout_set = torch_readout_set(net, chat_format, held, tokens, checkpoint_block(net.config.n_layer))
        base_dist, base_mass = readout_set.base_dist, readout_set.base_mass
    base_answers = {i.number: float(a) for i, a in zip(held, median_answer(base_dist), strict=False)}
    print(
        f"unsteered {args.backend} pass over {len(held)} items: {time.perf_counter() - started:.1f} s, "
        f"mean option mass {base_mass.mean():.3f}, distinct answers {len(set(base_answers.values()))}",
        flush=True,
    )

    rows, scores = (
        [],
        {"base": [], "steered": [], "population": [], "own_median": [], "cv_base": [], "cv_steered": []},
    )
    chosen = subjects[args.start : args.start + args.subjects]
    for subject in chosen:
        truth = {n: a for n, a in subject.answers.items() if a}
        own = {n: a for n, a in truth.items() if n in form}
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="paso-vec-") as tmp:
            result = align(
                model=str(model_path),
                profile_name=f"subject-{subject.case}",
                out=str(Path(tmp) / "v.gguf"),
                answers_override=own,
                form="120",
                show_progress=False,
            )
            if args.backend == "llama":
                runtime.load_vector(result.vector_path)
            else:
                exported = read_control_vector(result.vector_path).directions
        align_s = time.perf_counter() - t0
        if args.backend == "llama":
            runtime.set_steering(Steering(strength=1.0))
            dist, mass = llama_option_distributions(llm, prompts, tokens)
            runtime.clear_steering()
        else:
            dist, mass = steered_distributions(net, readout_set, np.arange(len(held)), exported, tokens)
        steered = {i.number: float(a) for i, a in zip(held, median_answer(dist), strict=False)}
        expect = expected_answer(dist)
        others = [s for s in subjects if s.index != subject.index]
        population = {}
        for item in held:
            values = [s.answers[item.number] for s in others if s.answers.get(item.number)]
            population[item.number] = float(np.mean(values))
        own_median = float(np.median(list(own.values())))
        scored = [(e, truth[i.number]) for i, e in zip(held, expect, strict=False) if truth.get(i.number)]
        row = {
            "case": subject.case,
            "base": aligned_score(base_answers, truth, held),
            "steered": aligned_score(steered, truth, held),
            "population": aligned_score(population, truth, held),
            "own_median": aligned_score({i.number: own_median for i in held}, truth, held),
            "strength": result.report["strength"],
            "vector_kind": result.report["vector_kind"],
            "cv": result.report["cv_aligned_score"],
            "distinct_steered": len(set(steered.values())),
            "mean_mass_steered": float(mass.mean()),
            "corr_expected": correlation(np.array([s[0] for s in scored]), np.array([s[1] for s in scored])),
            "align_seconds": round(align_s, 1),
            "cache_hit": result.report["activation_cache_hit"],
        }
        for key in ("base", "steered", "population", "own_median"):
            scores[key].append(row[key])
        rows.append(row)
        print(
            f"subject {subject.case}: base {row['base'].total:.3f} steered {row['steered'].total:.3f} "
            f"population {row['population'].total:.3f} own-median {row['own_median'].total:.3f} | "
            f"CV {row['cv']['base']:.3f}->{row['cv']['steered']:.3f} strength {row['strength']:+.3f} "
            f"({row['vector_kind']}) distinct {row['distinct_steered']} mass {row['mean_mass_steered']:.2f} "
            f"r {row['corr_expected']:+.3f} align {align_s:.0f}s",
            flush=True,
        )
    deltas = np.array([r["steered"].total - r["base"].total for r in rows])
    summary = {
        "subjects": len(rows),
        "readout": f"median of the marginalised option distribution ({args.backend} logits)",
        "mean_aligned_score": {k: round(mean_aligned_score(v).total, 4) for k, v in scores.items() if v},
        "per_domain": {
            k: {d: round(x, 3) for d, x in mean_aligned_score(v).per_domain.items()}
            for k, v in scores.items()
            if v
        },
        "helped": int((deltas < -1e-9).sum()),
        "tied": int((np.abs(deltas) <= 1e-9).sum()),
        "hurt": int((deltas > 1e-9).sum()),
        "mean_within_person_r": float(np.nanmean([r["corr_expected"] for r in rows])),
        "distinct_answers_steered": [r["distinct_steered"] for r in rows],
        "distinct_answers_unsteered": len(set(base_answers.values())),
        "mean_align_seconds": float(np.mean([r["align_seconds"] for r in rows])),
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        serial = [
            {
                k: ({"total": v.total, "per_domain": v.per_domain} if hasattr(v, "per_domain") else v)
                for k, v in r.items()
            }
            for r in rows
        ]
        args.out.write_text(json.dumps({"summary": summary, "subjects": serial}, indent=1))
    if args.backend == "llama":
        runtime.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
