"""Does align's llama.cpp cross-validation choose what a float32 torch cross-validation chooses?

For each dev subject: align (letter contrast, heads; the default) once with the llama.cpp scorer and once
with the float32 torch steered passes, on the subject's 120 answers only. Reported per subject: each run's
(vector kind, strength), its CV Aligned Score, its seconds; where the choices differ, the llama.cpp CV score
of the torch choice (read from the llama.cpp run's curve, when it evaluated that strength), so one can see
whether the llama.cpp choice scores at least as well on the person's own folds. Results go to --out as they
finish (JSON, one entry per subject), and a re-run resumes from them.

Usage: .venv/bin/python benchmarks/cv_agreement.py --out FILE [--index 0:10] [--model PATH] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

SUBJECTS = Path(__file__).resolve().parents[2] / "shared" / "data" / "papi_dev.json"


def llama_score_of(report: dict, kind: str, strength: float) -> float | None:
    """The llama.cpp run's CV score for (kind, strength), if its search evaluated that point."""
    for candidate in report["candidates"]:
        if candidate["kind"] == kind:
            for point_strength, score, _r in candidate["curve"]:
                if abs(point_strength - strength) < 1e-9:
                    return score
    return None


def align_subject(model: str | None, answers: dict[int, int], scoring: str, threads: int) -> dict:
    from paso_local.converters.align_command import align

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = align(
            model=model,
            profile_name="agreement",
            out=str(Path(tmp) / "v.gguf"),
            answers_override=answers,
            form="120",
            show_progress=False,
            scoring=scoring,
            threads=threads,
        )
        report = result.report
        report["wall_seconds"] = round(time.perf_counter() - started, 1)
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--index", default="0:10")
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--subjects", default=str(SUBJECTS))
    args = parser.parse_args()
    import torch

    from paso_local.person.subjects import load_subjects

    torch.set_num_threads(args.threads)
    start, stop = (int(x) for x in args.index.split(":"))
    subjects = load_subjects(Path(args.subjects))[start:stop]
    out = Path(args.out)
    done = json.loads(out.read_text()) if out.is_file() else {}
    for k, subject in enumerate(subjects, start=start):
        if str(k) in done:
            continue
        answers = {n: a for n, a in subject.answers.items() if a}
        runs = {s: align_subject(args.model, answers, s, args.threads) for s in ("llama", "torch")}
        entry = {
            s: {
                "kind": r["vector_kind"],
                "strength": r["strength"],
                "cv_base": r["cv_aligned_score"]["base"],
                "cv_steered": r["cv_aligned_score"]["steered"],
                "seconds": r["wall_seconds"],
                "peak_rss_mb": r["peak_rss_mb"],
            }
            for s, r in runs.items()
        }
        torch_choice = entry["torch"]
        entry["same_choice"] = (entry["llama"]["kind"], entry["llama"]["strength"]) == (
            torch_choice["kind"],
            torch_choice["strength"],
        )
        entry["llama_cv_of_torch_choice"] = (
            runs["llama"]["cv_aligned_score"]["base"]
            if torch_choice["strength"] == 0.0
            else llama_score_of(runs["llama"], torch_choice["kind"], torch_choice["strength"])
        )
        done[str(k)] = entry
        out.write_text(json.dumps(done, indent=2) + "\n")
        print(f"subject {k}: {json.dumps(entry)}", flush=True)
    same = sum(e["same_choice"] for e in done.values())
    print(f"same (kind, strength) for {same} of {len(done)} subjects")
    for k, e in sorted(done.items(), key=lambda kv: int(kv[0])):
        if not e["same_choice"]:
            theirs = e["llama_cv_of_torch_choice"]
            print(
                f"  subject {k}: llama {e['llama']['kind']} {e['llama']['strength']:+.3f} CV "
                f"{e['llama']['cv_steered']:.3f}; torch {e['torch']['kind']} {e['torch']['strength']:+.3f}"
                f", its llama.cpp CV {'not evaluated' if theirs is None else f'{theirs:.3f}'}"
            )


if __name__ == "__main__":
    main()
