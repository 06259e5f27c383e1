"""`paso-local eval`: the paper's protocol through the deployed path (GGUF in llama.cpp, exported vector).

Per subject the 120-form answers are all a method sees; the other 180 items are asked and scored. `base`
does not depend on the subject and is asked once; `pas` and `pas+fewshot` share one vector per subject.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console

from paso_local.errors import PasoError
from paso_local.evaluation.aligning import Aligner, SubjectAlignment
from paso_local.evaluation.asking import Asker, ItemReading
from paso_local.evaluation.lora_methods import LORA_METHODS, run_lora_methods
from paso_local.evaluation.memory_methods import method_k
from paso_local.evaluation.methods import Method, parse_methods
from paso_local.evaluation.metrics import (
    SubjectResult,
    control_summary,
    other_person_results,
    score_subject,
    summarise,
    versus,
)
from paso_local.evaluation.references import REFERENCE_NAMES, reference_predictions
from paso_local.evaluation.results import PUBLISHED, TEST_SET_REFERENCES, print_results, write_json
from paso_local.evaluation.runs import MethodRun, Populations, population_means, score_readings
from paso_local.evaluation.split import SplitSubject, held_out_numbers, select_subjects, split_subject
from paso_local.llm.lora_adapter import require_reader
from paso_local.llm.modelfiles import resolve_model
from paso_local.llm.rpc import chosen_servers
from paso_local.person.inventory import held_out_items, item_group
from paso_local.person.subjects import default_orientation, load_subjects
from paso_local.progress import progress_bar, status
from paso_local.store.paths import require_writable_dir
from paso_local.store.storage import atomic_write_bytes

N_CTX = 4096
NOTES = {
    "aligned_score": "per domain, mean |answer - person's answer| over held-out items the person answered "
    "(0 skipped) and the method answered (unparsable skipped), averaged over subjects; sum of domains",
    "correlation": "within-person Pearson r across held-out items between the expected answer of the "
    "five-option distribution (references: their prediction) and the person's answer, averaged over "
    "subjects that have one (constant answers on either side have none)",
    "seconds_per_subject": "asking time (plus align time for pas methods) divided by subjects; base is "
    "asked once, so its figure is that one run divided by the subjects",
    "deviation_correlation": "within-person r between (prediction - the item's leave-one-subject-out "
    "population mean) and (the person's answer - the same mean), averaged over subjects: the part about this "
    "person; read it against other_person, since a person's use of the scale moves it for any predictor",
    "other_person": "the same method given the next evaluated subject's 120 answers (cyclically) and scored "
    "against this subject: the personalised part is the difference",
    "versus_base": "per subject, the summed Aligned Score below (helped), equal to (tied) or above (worse) base's",
    "paper_protocol": "the sum against the stored keyed values (6 - chosen on minus-keyed items), as the "
    "paper's code scores it; every other figure is against the options the person chose",
    "references": "computed from the subjects file; leave-one-subject-out over every subject of the file; "
    "acquiescence-only and trait-model use only the subject's own 120 alignment answers",
}


def reference_results(
    pool: list[SplitSubject], targets: list[SplitSubject], populations: Populations, *, other_person=False
) -> dict[str, list[SubjectResult]]:
    """Score every no-LLM reference on the targets (the prediction is also the 'expected answer');
    `other_person`: their other-person controls (references.reference_predictions)."""
    numbers = held_out_numbers()
    out: dict[str, list[SubjectResult]] = {}
    for name, predictions in reference_predictions(pool, targets, other_person=other_person).items():
        rows = []
        for subject, row in zip(targets, predictions, strict=True):
            values = {n: float(v) for n, v in zip(numbers, row, strict=True)}
            result = score_subject(
                subject.case, subject.index, values, values, subject.held_out, populations[subject.index]
            )
            result.extra = {"answers": [None if not np.isfinite(v) else round(float(v), 4) for v in row]}
            rows.append(result)
        out[name] = rows
    return out


class Evaluation:
    """The model-side loop: one loaded runtime and asker for every method and subject."""

    def __init__(
        self,
        model_path: Path,
        readout: str,
        threads: int | None,
        aligner: Aligner | None = None,
        rpc_servers: tuple = (),
        keep_vectors: Path | None = None,
        reader: Path | None = None,
    ):
        from paso_local.llm.steered_scoring import open_scoring_runtime

        self.model_path = model_path
        self.keep_vectors = keep_vectors
        self.reader = reader  # the profile reader's adapter, for the reader methods
        self.threads = threads
        self._aligner = aligner
        self.runtime = open_scoring_runtime(model_path, threads=threads, n_ctx=N_CTX, rpc_servers=rpc_servers)
        self.asker = Asker(self.runtime, readout)
        self._workdir = tempfile.TemporaryDirectory(prefix="paso-eval-")
        self._aligned: dict[tuple[int, str, str], tuple[Path, dict]] = {}  # by subject, contrast, site

    def close(self) -> None:
        self.runtime.close()
        self._workdir.cleanup()

    @property
    def aligner(self) -> Aligner:
        """The align side the command layer passed in (the pas, keyed and LoRA methods need it)."""
        if self._aligner is None:
            raise PasoError("the align pipeline is not available; the pas methods need it")
        return self._aligner

    def request(self, subject: SplitSubject) -> SubjectAlignment:
        """What the aligner needs for this subject: their 120 answers, this run's model, threads, runtime."""
        return SubjectAlignment(self.model_path, subject.alignment, self.threads, self.runtime)

    @property
    def workdir(self) -> Path:
        """Where this run's vectors and adapters are written (removed on close)."""
        return Path(self._workdir.name)

    def steer_with(self, subject: SplitSubject, contrast: str, site: str) -> tuple[float, dict]:
        """Align a vector from the subject's 120 answers (align writes the GGUF file a person gets), load
        that file through the runtime and apply it. Returns align's seconds and a summary of its report;
        a second call for the same subject, contrast and site reloads the file (0 s)."""
        from paso_local.llm.steering import Steering

        key = (subject.index, contrast, site)
        if key in self._aligned:
            path, summary = self._aligned[key]
            seconds = 0.0
        else:
            started = time.perf_counter()
            out = Path(self._workdir.name) / f"subject-{subject.index}-{contrast}-{site}.gguf"
            path, report = self.aligner.align_to_file(
                self.request(subject), out, f"eval-case-{subject.case}", contrast, site
            )
            seconds = time.perf_counter() - started
            summary = {
                key: report.get(key)
                for key in (
                    "strength",
                    "vector_kind",
                    "contrast",
                    "site",
                    "residual_blocks",
                    "cv_aligned_score",
                    "candidates",
                    "activation_cache_hit",
                    "usable_answers",
                    "peak_rss_mb",
                )
            }
            self._aligned = {k: v for k, v in self._aligned.items() if k[0] == subject.index}
            self._aligned[key] = (path, summary)
            self.keep(path, subject, contrast, site)
        self.runtime.load_vector(path)
        self.runtime.set_steering(Steering())
        return seconds, summary

    def keep(self, path: Path, subject: SplitSubject, contrast: str, site: str) -> None:
        """With --keep-vectors DIR: a copy of the subject's vector as DIR/<contrast>-<site>/subject-<index>.gguf,
        the layout `paso-local assess --vectors` reads (owner-only: it is derived from the person's answers)."""
        if self.keep_vectors is None:
            return
        kept = self.keep_vectors / f"{contrast}-{site}" / f"subject-{subject.index}.gguf"
        atomic_write_bytes(kept, path.read_bytes())

    def ask_keyed(
        self, subject: SplitSubject, method: Method, bar
    ) -> tuple[list[ItemReading], float, float, dict]:
        """Align one vector per item group from the subject's answers, then ask each group's held-out items
        with its own vector. Returns the readings (held-out order), ask seconds, align seconds, align report."""
        from paso_local.llm.steering import Steering

        assert method.keyed_by is not None
        started = time.perf_counter()
        out = Path(self._workdir.name) / f"subject-{subject.index}-{method.name}"
        files, report = self.aligner.align_keyed_to_dir(self.request(subject), out, method.keyed_by)
        spent = time.perf_counter() - started
        started = time.perf_counter()
        items = held_out_items()
        readings: dict[int, ItemReading] = {}
        for group in sorted({item_group(i, method.keyed_by) for i in items}):
            path = files.get(group)
            if path is None:
                self.unsteer()
            else:
                self.runtime.load_vector(path)
                self.runtime.set_steering(Steering())
            subset = [i for i in items if item_group(i, method.keyed_by) == group]
            for reading in self.asker.ask(
                method.system_prompt(subject.alignment), subset, on_item=bar.advance
            ):
                readings[reading.number] = reading
        self.unsteer()
        return [readings[i.number] for i in items], time.perf_counter() - started, spent, report

    def ask_with_memory(
        self, subject: SplitSubject, method: Method, k: int | None, bar
    ) -> tuple[list[ItemReading], float]:
        """Each held-out item after the subject's k most related answers (memory_methods), items that share
        a context asked together so it is evaluated once."""
        from paso_local.evaluation.memory_methods import memory_groups
        from paso_local.llm.lora_adapter import apply_lora

        started = time.perf_counter()
        items = held_out_items()
        system = method.system_prompt(subject.alignment)
        readings: dict[int, ItemReading] = {}
        shown = method_k(method.reader, k)
        groups = memory_groups(
            subject.alignment, items, shown, method.memory, system, method.same_key, method.order
        )
        with apply_lora(self.runtime, self.reader) if method.reader else contextlib.nullcontext():
            for context, group, _recalled in groups:
                for reading in self.asker.ask(
                    context.system_prompt, group, on_item=bar.advance, turns=context.turns
                ):
                    readings[reading.number] = reading
        return [readings[i.number] for i in items], time.perf_counter() - started

    def unsteer(self) -> None:
        self.runtime.clear_steering()

    def tokens_decoded(self) -> int:
        return int(getattr(self.runtime, "tokens_decoded", 0))

    def ask(self, system_prompt: str, bar) -> tuple[list[ItemReading], float]:
        started = time.perf_counter()
        readings = self.asker.ask(system_prompt, held_out_items(), on_item=bar.advance)
        return readings, time.perf_counter() - started


def run_methods(
    evaluation: Evaluation,
    methods: list[Method],
    targets: list[SplitSubject],
    populations: Populations,
    show_progress: bool = True,
    memory_k: int | None = None,
) -> dict[str, MethodRun]:
    runs = {m.name: MethodRun(m) for m in methods}
    n_items = len(held_out_items())
    shared = [m for m in methods if not m.personal]
    personal = [m for m in methods if m.personal]
    total = n_items * (len(shared) + len(personal) * len(targets))
    with progress_bar("eval", total, enabled=show_progress) as bar:
        for method in shared:  # the same answers for every subject: asked once
            bar.describe(f"{method.name} (once for all subjects)")
            evaluation.unsteer()
            readings, seconds = evaluation.ask(method.system_prompt({}), bar)
            run = runs[method.name]
            run.seconds += seconds
            run.results = [
                score_readings(s, readings, seconds / len(targets), populations[s.index]) for s in targets
            ]
        for k, subject in enumerate(targets, start=1):
            for method in personal:
                where = f"subject {k}/{len(targets)} (case {subject.case})"
                spent = 0.0
                align_summary: dict = {}
                if method.keyed_by:
                    bar.describe(f"{method.name}: aligning and asking {where}")
                    readings, seconds, spent, align_summary = evaluation.ask_keyed(subject, method, bar)
                elif method.memory:
                    evaluation.unsteer()
                    bar.describe(f"{method.name}: {where}")
                    decoded_before = evaluation.tokens_decoded()
                    readings, seconds = evaluation.ask_with_memory(subject, method, memory_k, bar)
                else:
                    if method.steered:
                        bar.describe(f"aligning {where}")
                        spent, align_summary = evaluation.steer_with(subject, method.contrast, method.site)
                    else:
                        evaluation.unsteer()
                    bar.describe(f"{method.name}: {where}")
                    decoded_before = evaluation.tokens_decoded()
                    readings, seconds = evaluation.ask(method.system_prompt(subject.alignment), bar)
                run = runs[method.name]
                run.seconds += seconds + spent
                result = score_readings(subject, readings, seconds + spent, populations[subject.index])
                if not method.keyed_by:  # what asking cost, align excluded
                    result.extra["asking"] = asking_cost(
                        evaluation.tokens_decoded() - decoded_before, seconds, readings
                    )
                if method.steered:
                    result.extra["align"] = {"seconds": round(spent, 2), **align_summary}
                run.results.append(result)
            evaluation.unsteer()
    return runs


def asking_cost(tokens: int, seconds: float, readings: list[ItemReading]) -> dict:
    """Tokens llama.cpp decoded and seconds, per held-out item (distribution readout; 0 tokens for the reply
    readout, which decodes through llama-cpp-python's own eval)."""
    n = max(len(readings), 1)
    return {"tokens_per_item": round(tokens / n, 1), "seconds_per_item": round(seconds / n, 3)}


def peak_rss_of(results: list[SubjectResult]) -> float | None:
    """The largest peak RSS (MB) a method's per-subject training reported: align's for pas methods, the LoRA
    trainer's for dpo/ppo; None for methods that train nothing."""
    peaks = [r.extra.get("peak_rss_mb") or r.extra.get("align", {}).get("peak_rss_mb") for r in results]
    peaks = [float(p) for p in peaks if p]
    return round(max(peaks), 1) if peaks else None


def summarise_with_controls(
    results: list[SubjectResult],
    targets: list[SplitSubject],
    populations: Populations,
    *,
    control: bool | list[SubjectResult],
    baseline: list[SubjectResult] | None = None,
    seconds_per_subject: float | None = None,
) -> dict:
    """A method's (or reference's) summary with its other-person control and, given base's results, how many
    subjects it helped. `control`: True computes the control from the next subject's predictions (a
    method's own run on them); a list is a control computed elsewhere (the references'); False leaves it out."""
    summary = summarise(results, seconds_per_subject)
    if control is True:
        by_index = {s.index: s for s in targets}
        ordered = [by_index[r.index] for r in results]
        control = other_person_results(
            results,
            [s.held_out for s in ordered],
            [populations[s.index] for s in ordered],
            held_out_numbers(),
        )
    if control:
        summary["other_person"] = control_summary(control)
    if baseline is not None:
        summary["versus_base"] = versus(results, baseline)
    return summary


def build_document(
    *,
    runs: dict[str, MethodRun],
    references: dict[str, list[SubjectResult]],
    reference_controls: dict[str, list[SubjectResult]],
    targets: list[SplitSubject],
    populations: Populations,
    readout: str,
    model: dict,
    subjects_file: str,
    orientation: str,
    wall_seconds: float,
    control: bool = True,
) -> dict:
    n = max(len(targets), 1)
    per_subject = []
    for name, run in runs.items():
        per_subject.extend({"method": name, **r.as_json()} for r in run.results)
    for name, rows in references.items():
        per_subject.extend({"method": name, "reference": True, **r.as_json()} for r in rows)
    base = runs["base"].results if "base" in runs else None
    methods = {
        name: {
            **summarise_with_controls(
                run.results,
                targets,
                populations,
                control=control and run.method.personal,
                baseline=base if name != "base" else None,
                seconds_per_subject=run.seconds / n,
            ),
            "peak_rss_mb": peak_rss_of(run.results),
        }
        for name, run in runs.items()
    }
    return {
        "methods": methods,
        "references": {
            name: summarise_with_controls(
                rows, targets, populations, control=(control and reference_controls.get(name)) or False
            )
            for name, rows in references.items()
        },
        "published": PUBLISHED,
        "published_test_set_references": TEST_SET_REFERENCES,
        "per_subject": per_subject,
        "readout": readout,
        "model": model,
        "subjects_file": subjects_file,
        "orientation": orientation,
        "targets": "the options the persons chose (the file converted at read time)",
        "subjects": [{"index": s.index, "case": s.case} for s in targets],
        "held_out_items": list(held_out_numbers()),
        "wall_seconds": round(wall_seconds, 1),
        "notes": NOTES,
    }


def kept_vectors_dir(args: argparse.Namespace) -> Path | None:
    """--keep-vectors DIR, created owner-only and checked before any model work."""
    if not getattr(args, "keep_vectors", None):
        return None
    path = Path(args.keep_vectors).expanduser()
    if path.exists() and not path.is_dir():
        raise PasoError(f"--keep-vectors {path} is a file; give a directory")
    return require_writable_dir(path, "the kept vectors", hint="give another --keep-vectors directory")


def run_on_model(
    args: argparse.Namespace,
    aligner: Aligner | None,
    methods: list[Method],
    lora_names: list[str],
    targets: list[SplitSubject],
    populations: Populations,
    memory_k: int | None,
) -> tuple[dict[str, MethodRun], dict]:
    """Load the model once and run every method on every target; returns the runs and the model's identity."""
    model_path = resolve_model(args.model)
    servers = chosen_servers(getattr(args, "rpc", None))
    keep_vectors = kept_vectors_dir(args)
    names = [m.name for m in methods] + lora_names
    status(f"eval: {len(targets)} subjects x {', '.join(names)} on {model_path.name}")
    threads = getattr(args, "threads", None)
    evaluation = Evaluation(
        model_path,
        args.readout,
        threads,
        aligner,
        rpc_servers=servers,
        keep_vectors=keep_vectors,
        reader=(
            require_reader(getattr(args, "reader", None), model_path)
            if any(m.reader for m in methods)
            else None
        ),
    )
    try:
        runs = run_methods(evaluation, methods, targets, populations, memory_k=memory_k) if methods else {}
        if lora_names:
            total = len(held_out_items()) * len(targets) * len(lora_names)
            with progress_bar("eval (LoRA methods)", total) as bar:
                runs.update(run_lora_methods(evaluation, lora_names, targets, bar, populations))
        info = evaluation.runtime.info
        return runs, {"name": info.name, "file": info.file_name, "architecture": info.architecture}
    finally:
        evaluation.close()


def run_eval(args: argparse.Namespace, aligner: Aligner | None = None) -> int:
    """`paso-local eval`; `aligner`: the align side (paso_local.converters.eval_aligner.TorchAligner from the CLI)."""
    started = time.perf_counter()
    names = list(dict.fromkeys(n.strip() for n in (args.methods or "").split(",") if n.strip()))
    if names == ["none"]:  # the no-LLM references alone: no model is loaded
        names = []
    elif not names:
        parse_methods("")  # refuses, naming the methods
    lora_names = [n for n in names if n in LORA_METHODS]  # dpo, ppo: LoRA adapters trained per subject
    other = [n for n in names if n not in LORA_METHODS]
    methods = parse_methods(",".join(other)) if other else []
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        raise PasoError(f"--threads {threads}: use 1 or more")
    subjects_path = Path(args.subjects)
    orientation = getattr(args, "orientation", None) or default_orientation(subjects_path)
    subjects = load_subjects(subjects_path, orientation=orientation)
    chosen = select_subjects(subjects, index=args.index, cases=args.cases)
    pool = [split_subject(s) for s in subjects]
    targets = [split_subject(s) for s in chosen]
    populations = population_means(pool, targets)
    references = reference_results(pool, targets, populations)
    controls = reference_results(pool, targets, populations, other_person=True) if len(targets) > 1 else {}
    memory_k = getattr(args, "k", None)
    runs: dict[str, MethodRun] = {}
    model: dict = {"file": "none (references only)"}
    if methods or lora_names:
        runs, model = run_on_model(args, aligner, methods, lora_names, targets, populations, memory_k)
    document = build_document(
        runs=runs,
        references={name: references[name] for name in REFERENCE_NAMES if name in references},
        reference_controls=controls,
        targets=targets,
        populations=populations,
        readout=args.readout,
        model=model,
        subjects_file=str(args.subjects),
        orientation=orientation,
        wall_seconds=time.perf_counter() - started,
        control=not getattr(args, "no_control", False),
    )
    if any(m.memory for m in methods):  # the answers each memory method showed per question
        document["memory_k"] = {m.name: method_k(m.reader, memory_k) for m in methods if m.memory}
    to_stdout = args.json == "-"
    print_results(document, Console(stderr=True) if to_stdout else Console())
    if args.json:
        write_json(document, args.json)
    status(f"eval took {document['wall_seconds']:.0f} s")
    return 0
