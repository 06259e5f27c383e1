"""`paso-local assess`: the open-ended assessment of the methods on held-out statements, judged locally.

Order of work: the judge is loaded and checked (chat template, room for the rubric) before anything is
generated; the judge's validation runs on the statements being assessed; the replies of methods that do not
depend on the subject are written once; then subject by subject, each checkpointed when complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

import numpy as np

from paso_local.assessment import prompts
from paso_local.assessment.checkpoint import Checkpoint
from paso_local.assessment.judge import Judge
from paso_local.assessment.methods import AssessMethod, build_methods, parse_vector_options
from paso_local.assessment.models import LoadedModel, default_judge, open_model
from paso_local.assessment.results import method_summary, print_results
from paso_local.assessment.run import Replier, ReplySettings, judge_replies, run_validation, write_replies
from paso_local.assessment.validation import Validation
from paso_local.errors import PasoError
from paso_local.evaluation.split import SplitSubject, held_out_numbers, select_subjects, split_subject
from paso_local.llm.controlvector import read_control_vector
from paso_local.llm.lora_adapter import require_reader
from paso_local.llm.modelfiles import resolve_model
from paso_local.person.inventory import Item, held_out_items
from paso_local.progress import progress_bar, status

NOTES = {
    "judged": "mean expected rating 1..6 of the judge's distribution over the digits, over judged replies, "
    "averaged over subjects; at_least_4: fraction of judged replies whose median rating is >= 4",
    "validation": "the unsteered model told to agree strongly vs disagree strongly on the same statements, "
    "both judged against Very Accurate (AUC of the expected ratings and mean gap, agree - disagree) and against "
    "Very Inaccurate (inverse_auc, inverse_gap: disagree - agree); weak when either AUC is below min_auc",
    "roundtrip": "the questionnaire item asked right after the model's own reply (median of the five "
    "options): agree = on the person's side of the scale, error = mean |answer - person's answer|",
    "coherence": "perplexity under the unsteered model after the base prompt; empty = no letter or digit; "
    "truncated = stopped at max tokens or the context's end; repetitive = some 4 consecutive words occur "
    "3+ times",
}


def choose_items(count: int, seed: int) -> list[Item]:
    """`count` of the 180 held-out items, drawn with `seed`, in 300-form order (the same for every subject)."""
    pool = held_out_items()
    if not 1 <= count <= len(pool):
        raise PasoError(f"--items {count}: choose 1..{len(pool)} of the held-out statements")
    picked = np.random.default_rng(seed).choice(len(pool), size=count, replace=False)
    return [pool[k] for k in sorted(picked)]


def _profile_subject(name: str) -> SplitSubject:
    from paso_local.evaluation.split import alignment_numbers
    from paso_local.person.profile import ProfileStore

    profile = ProfileStore().load(name)
    answers = profile.answers
    held_out = {n: int(answers.get(n, 0)) for n in held_out_numbers()}
    if not any(held_out.values()):
        raise PasoError(
            f"profile {name!r} has no answers to the held-out statements (the 180 items outside the 120 "
            "form), so there is nothing to judge against; answer the 300 form (`paso-local onboard --form 300`)"
        )
    alignment = {n: int(answers.get(n, 0)) for n in alignment_numbers()}
    return SplitSubject(case=name, index=0, alignment=alignment, held_out=held_out)


def _subjects(args: argparse.Namespace) -> list[SplitSubject]:
    from paso_local.person.subjects import default_orientation, load_subjects

    if args.subjects:
        if args.profile:
            raise PasoError("give --subjects FILE or --profile NAME, not both")
        path = Path(args.subjects)
        everyone = load_subjects(path, orientation=args.orientation or default_orientation(path))
        chosen = select_subjects(everyone, index=args.index, cases=args.cases)
        return [split_subject(s) for s in chosen]
    if args.index or args.cases:
        raise PasoError("--index and --cases choose subjects of --subjects FILE; give --subjects too")
    if not args.profile:
        raise PasoError("give --subjects FILE (PAPI-style subjects) or --profile NAME (a 300-form profile)")
    return [_profile_subject(args.profile)]


def _profile_vector(args: argparse.Namespace, model: Path, wanted: bool) -> Path | None:
    if not (args.profile and wanted):
        return None
    from paso_local.person.vector_store import choose_vector

    path, notice = choose_vector(args.profile, model)
    if path is None:
        raise PasoError(f"method pas: {notice}")
    return path


def _file(path: Path) -> dict:
    return {"file": path.name, "path": str(path), "bytes": path.stat().st_size}


def _config(args, model, judge, items, methods, subjects, settings) -> dict:
    texts = [prompts.OPEN_TEMPLATE, prompts.JUDGE_SYSTEM, prompts.JUDGE_USER, *prompts.STANCES.values()]
    return {
        "model": _file(model),
        "judge": _file(judge),
        "items": [i.number for i in items],
        "methods": [m.describe() for m in methods],
        "subjects": [s.case for s in subjects],
        "max_tokens": settings.max_tokens,
        "sampling": settings.sampling,
        "strength": settings.strength,
        "n_ctx": args.n_ctx,
        "judge_n_ctx": args.judge_n_ctx or args.n_ctx,
        "prompts": hashlib.sha256("\x1f".join(texts).encode("utf-8")).hexdigest()[:16],
    }


def _out_dir(args: argparse.Namespace, config: dict) -> Path:
    if args.out:
        return Path(args.out).expanduser()
    from paso_local.store.paths import data_dir

    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode("utf-8")).hexdigest()[:16]
    return data_dir() / "assessments" / key


def _check_settings(args: argparse.Namespace) -> ReplySettings:
    if args.max_tokens < 1:
        raise PasoError(f"--max-tokens must be at least 1, got {args.max_tokens}")
    if args.strength is not None and not (math.isfinite(args.strength) and args.strength >= 0):
        raise PasoError(f"--strength must be a finite number, 0 or more; got {args.strength}")
    strength = 1.0 if args.strength is None else float(args.strength)
    return ReplySettings(max_tokens=args.max_tokens, sampling=args.sampling, strength=strength)


class Assessment:
    """The loaded models and the work, checkpointed through `store`."""

    def __init__(self, replier: Replier, judge: Judge, items: list[Item], methods: list[AssessMethod], store):
        self.replier, self.judge, self.items, self.methods, self.store = replier, judge, items, methods, store

    def validation(self) -> tuple[Validation, float]:
        saved = self.store.load("validation")
        if saved is not None and "inverse" in saved:  # a checkpoint from before the inverse test is redone
            return Validation.from_json(saved), float(saved["seconds"])
        status(f"Validating the judge on {len(self.items)} statements (agree- and disagree-told replies)...")
        validation, seconds = run_validation(self.replier, self.judge, self.items)
        self.store.save("validation", {**validation.as_json(), "seconds": round(seconds, 3)})
        return validation, seconds

    def shared_replies(self) -> dict[str, dict]:
        """Replies of the methods that do not depend on the subject, written once."""
        out = {}
        for method in self.methods:
            if method.personal:
                continue
            name = f"replies-{method.name}"
            saved = self.store.load(name)
            if saved is None:
                status(f"Writing the {method.name} replies (the same for every subject)...")
                saved = write_replies(self.replier, method, self.items, None)
                self.store.save(name, saved)
            out[method.name] = saved
        return out

    def subject(self, subject: SplitSubject, shared: dict[str, dict]) -> dict:
        name = f"subject-{subject.index}"
        saved = self.store.load(name)
        if saved is not None:
            return saved
        record = {"case": subject.case, "index": subject.index, "methods": {}}
        for method in self.methods:
            replies = shared.get(method.name) or write_replies(self.replier, method, self.items, subject)
            judged = judge_replies(self.judge, self.items, replies, subject)
            own = replies["seconds"] if method.personal else 0.0
            record["methods"][method.name] = {"seconds": round(own + judged["seconds"], 3), **judged}
        self.store.save(name, record)
        return record


def assess(args: argparse.Namespace) -> dict:
    """Run (or resume) the assessment the arguments describe; returns the results document."""
    settings = _check_settings(args)
    model = resolve_model(args.model)
    judge_path = resolve_model(args.judge) if args.judge else default_judge([model] if args.model else [])
    subjects = _subjects(args)
    items = choose_items(args.items, args.seed)
    wanted = "pas" in [n.strip() for n in (args.methods or "").split(",")]
    methods = build_methods(
        args.methods,
        vectors_dir=Path(args.vectors).expanduser() if args.vectors else None,
        extra=parse_vector_options(args.vector),
        profile_vector=_profile_vector(args, model, wanted),
        reader=lambda: require_reader(getattr(args, "reader", None), model),
    )
    for method in methods:  # a missing or damaged vector file is refused now, not at subject 7
        if method.vector is not None:
            for path in method.vector.files(subjects):
                read_control_vector(path)
    config = _config(args, model, judge_path, items, methods, subjects, settings)
    store = Checkpoint(_out_dir(args, config), config, resume=args.resume)
    status(f"Checkpoints in {store.directory}")
    loaded: list[LoadedModel] = []
    try:
        replier_model = open_model(model, n_ctx=args.n_ctx, threads=args.threads)
        loaded.append(replier_model)
        judge_ctx = args.judge_n_ctx or args.n_ctx
        if judge_path == model and judge_ctx == args.n_ctx:
            judge_model = replier_model
        else:
            judge_model = open_model(judge_path, n_ctx=judge_ctx, threads=args.threads)
            loaded.append(judge_model)
        work = Assessment(Replier(replier_model, settings), Judge(judge_model), items, methods, store)
        validation, validation_seconds = work.validation()
        shared = work.shared_replies()
        records = []
        with progress_bar("subjects", len(subjects), enabled=sys.stderr.isatty()) as bar:
            for subject in subjects:
                records.append(work.subject(subject, shared))
                bar.advance()
    finally:
        for m in loaded:
            m.close()
    return document(config, validation, validation_seconds, methods, shared, records)


def document(config, validation, validation_seconds, methods, shared, records) -> dict:
    rows, seconds = {}, {}
    for method in methods:
        per_subject = [r["methods"][method.name] for r in records]
        rows[method.name] = method_summary(per_subject)
        total = sum(s["seconds"] for s in per_subject) + shared.get(method.name, {}).get("seconds", 0.0)
        seconds[method.name] = round(total / max(len(records), 1), 2)
    return {
        "model": config["model"],
        "judge": config["judge"],
        "subjects": len(records),
        "items": len(config["items"]),
        "item_numbers": config["items"],
        "sampling": config["sampling"],
        "max_tokens": config["max_tokens"],
        "strength": config["strength"],
        "validation": validation.summary(),
        "methods": rows,
        "seconds": {"validation": round(validation_seconds, 2), "per_subject": seconds},
        "notes": NOTES,
        "prompts": {
            "open": prompts.OPEN_TEMPLATE,
            "stances": prompts.STANCES,
            "judge_system": prompts.JUDGE_SYSTEM,
            "judge_user": prompts.JUDGE_USER,
        },
    }


def run_assess(args: argparse.Namespace) -> int:
    from paso_local.evaluation.results import write_json

    result = assess(args)
    print_results(result)
    if args.json:
        write_json(result, args.json)
    return 0
