"""The `paso-local` command. Each subcommand imports its heavy parts (torch, Textual, llama.cpp) only when run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from paso_local.cli_parser import UNFINISHED, Handler
from paso_local.cli_parser import build_parser as parser_for
from paso_local.errors import PasoError
from paso_local.invocation import with_command_name

BROKEN_PIPE = 141  # what a shell reports for a program whose reader went away (128 + SIGPIPE)

# --- handlers: each imports what it needs when it runs ----------------------------------------------------------


def cmd_onboard(args: argparse.Namespace) -> int:
    from paso_local.person.onboarding import import_answers

    if args.import_file:
        profile, path = import_answers(
            args.import_file,
            profile_name=args.profile,
            form=args.form,
            index=args.index,
            case=args.case,
            replace=args.replace,
            orientation=args.orientation,
        )
        print(
            f"Imported {len(profile.usable_answers())} answers ({profile.form}-item form) into profile "
            f"{profile.name!r} at {path}."
        )
        print(
            with_command_name(
                "Next: `paso-local profile` to see the scores, `paso-local align` to build the vector."
            )
        )
        return 0
    if args.index is not None or args.case is not None:
        raise PasoError("--index and --case choose a record of --import FILE; give --import too")
    if args.orientation is not None:
        raise PasoError("--orientation says what --import FILE holds; give --import too")
    if args.if_needed and _profile_is_complete(args.profile):
        return 0
    from paso_local.tui.onboarding import run_onboarding

    return run_onboarding(
        profile_name=args.profile,
        form=args.form,
        resume_command=args.resume_command,
        unfinished_status=UNFINISHED if args.if_needed else 0,
    )


def _profile_is_complete(name: str) -> bool:
    """onboard --if-needed: a finished profile is not shown again (it would wait for a key)."""
    from paso_local.person.profile import ProfileStore

    profile = ProfileStore().load_or_none(name)
    if profile is None or not profile.complete:
        return False
    print(f"Profile {name!r} is complete ({len(profile.usable_answers())} answers).")
    return True


def cmd_profile(args: argparse.Namespace) -> int:
    from paso_local.person.profile import ProfileStore
    from paso_local.person.report import print_profile

    profile = ProfileStore().load(args.profile)
    notice = profile.stale_import_notice()
    if notice:
        print(f"Warning: {notice}", file=sys.stderr)
    if args.json:
        print(json.dumps(profile.scores().as_json(), indent=2))
    else:
        print_profile(profile)
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    if args.if_needed and _vector_is_current(args):
        return 0
    if args.method in ("dpo", "ppo"):
        from paso_local.converters.lora_command import run_align_lora

        return run_align_lora(args)
    from paso_local.converters.align_command import run_align

    return run_align(args)


def _vector_is_current(args: argparse.Namespace) -> bool:
    """align --if-needed: True (and says so) when the vector align would write is newer than the profile's
    answers, so the minutes of align are not spent again on the same answers."""
    from datetime import datetime
    from pathlib import Path

    from paso_local.llm.modelfiles import resolve_model
    from paso_local.person.profile import ProfileStore
    from paso_local.person.vector_store import vector_path_for

    if args.method != "pas":
        return False
    profile = ProfileStore().load(args.profile)
    model = resolve_model(args.model)
    out = Path(args.out).expanduser() if args.out else vector_path_for(args.profile, model)
    try:
        answered_at = datetime.fromisoformat(profile.updated_at).timestamp()
    except ValueError:  # an odd timestamp: build the vector again rather than guess
        return False
    if not out.is_file() or out.stat().st_mtime <= answered_at + 1:  # updated_at has whole seconds
        return False
    print(
        with_command_name(
            f"Kept {out}: it is newer than the answers of profile {args.profile!r} (`paso-local align` "
            "without --if-needed builds it again)."
        ),
        file=sys.stderr,
    )
    return True


def cmd_chat(args: argparse.Namespace) -> int:
    from paso_local.tui.chat import run_chat

    return run_chat(args)


def cmd_ask(args: argparse.Namespace) -> int:
    from paso_local.ask import run_ask

    return run_ask(args)


def cmd_models(args: argparse.Namespace) -> int:
    from paso_local.catalog import run_models

    return run_models(args)


def cmd_check_model(args: argparse.Namespace) -> int:
    from paso_local.converters.check_model import run_check_model

    return run_check_model(args)


def cmd_requantize(args: argparse.Namespace) -> int:
    from paso_local.llm.requantize_command import run_requantize

    return run_requantize(args)


def cmd_train_reader(args: argparse.Namespace) -> int:
    from paso_local.converters.reader import run_train_reader

    return run_train_reader(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from paso_local.converters.eval_aligner import TorchAligner  # imports torch only when a method aligns
    from paso_local.evaluation.command import run_eval

    return run_eval(args, aligner=TorchAligner())


HANDLERS: dict[str, Handler] = {
    "onboard": cmd_onboard,
    "profile": cmd_profile,
    "align": cmd_align,
    "chat": cmd_chat,
    "ask": cmd_ask,
    "models": cmd_models,
    "check-model": cmd_check_model,
    "eval": cmd_eval,
    "requantize": cmd_requantize,
    "train-reader": cmd_train_reader,
}


def build_parser() -> argparse.ArgumentParser:
    from paso_local.assessment.arguments import add_assess_command  # `assess`: its options and handler

    return add_assess_command(parser_for(HANDLERS))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        from paso_local.llm.llama_native import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        status = int(args.handler(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that went away (`| head`) is seen here
        return status
    except PasoError as exc:
        print(f"Error: {with_command_name(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE


def _silence_stdout() -> None:
    """The reader of stdout is gone: point stdout at /dev/null so the exit flush raises no second error."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    raise SystemExit(main())
