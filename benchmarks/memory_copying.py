"""What a reader that copies the answers it is shown would score, without a language model.

Retrieval puts a person's related answers before each held-out question. A small model that only copies the
level of those answers, without reading which way each statement is keyed, gets a figure this benchmark
computes exactly: each held-out item is predicted by the mean of the shown options, rounded for the Aligned
Score, and scored in chosen space with the eval's metrics (deviation r against the leave-one-out population
mean), next to the same reader fed the next subject's answers. `keyed` is the trait-model reading of the same
answers (opposite-keyed ones counted as 6 - option): what a reader that does read the keys would reach.

    .venv/bin/python benchmarks/memory_copying.py [--subjects ../shared/data/papi_dev.json] [--k 2,4,8]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from paso_local.evaluation.metrics import score_subject
from paso_local.evaluation.runs import population_means
from paso_local.evaluation.split import SplitSubject, held_out_numbers, split_subject
from paso_local.person.answer_memory import AnswerMemory, Recalled, predicted_option, retrieve
from paso_local.person.inventory import item
from paso_local.person.subjects import load_subjects

Reader = Callable[[list[Recalled]], float]


def copy_mean(recalled: list[Recalled]) -> float:
    return float(np.mean([r.option for r in recalled])) if recalled else 3.0


def keyed_mean(recalled: list[Recalled]) -> float:
    value = predicted_option(recalled)
    return 3.0 if value is None else value


READERS: dict[str, tuple[bool, Reader]] = {  # name -> (same-key retrieval, reader)
    "copy every shown answer": (False, copy_mean),
    "copy the same-keyed answers": (True, copy_mean),
    "keyed (trait-model reading)": (False, keyed_mean),
}


def predictions(subject: SplitSubject, k: int, same_key: bool, reader: Reader) -> dict[int, float]:
    memory = AnswerMemory.from_answers(subject.alignment)
    return {n: reader(retrieve(memory, item(n), k, same_key)) for n in held_out_numbers()}


def evaluate(subjects: Sequence[SplitSubject], k: int, same_key: bool, reader: Reader) -> dict:
    populations = population_means(list(subjects), list(subjects))  # eval's own leave-one-out means
    own, other = [], []
    for row, subject in enumerate(subjects):
        population = populations[subject.index]
        for fed, out in ((subject, own), (subjects[(row + 1) % len(subjects)], other)):
            predicted = predictions(fed, k, same_key, reader)
            rounded = {n: float(round(v)) for n, v in predicted.items()}
            result = score_subject(subject.case, row, rounded, predicted, subject.held_out, population)
            out.append((result.score.total, result.deviation_correlation))
    own_a, other_a = np.array(own, dtype=float), np.array(other, dtype=float)
    return {
        "sum": own_a[:, 0].mean(),
        "dev_r": np.nanmean(own_a[:, 1]),
        "other_sum": other_a[:, 0].mean(),
        "other_dev_r": np.nanmean(other_a[:, 1]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subjects", default="../shared/data/papi_dev.json")
    parser.add_argument("--orientation", default="keyed", choices=["keyed", "chosen"])
    parser.add_argument("--k", default="2,4,8", help="comma-separated numbers of shown answers")
    args = parser.parse_args()
    subjects = [split_subject(s) for s in load_subjects(Path(args.subjects), orientation=args.orientation)]
    print(f"{len(subjects)} subjects, chosen space, summed Aligned Score over the 180 held-out items\n")
    print("| reader | k | sum | dev r | other person: sum / dev r |")
    print("|---|---|---|---|---|")
    for k in (int(x) for x in args.k.split(",")):
        for name, (same_key, reader) in READERS.items():
            row = evaluate(subjects, k, same_key, reader)
            print(
                f"| {name} | {k} | {row['sum']:.2f} | {row['dev_r']:.2f} | "
                f"{row['other_sum']:.2f} / {row['other_dev_r']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
