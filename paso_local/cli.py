"""The `paso-local` command. Each subcommand imports its heavy parts (torch, Textual, llama.cpp) only when run."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence

from paso_local import __version__
from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.profile import DEFAULT_PROFILE
from paso_local.questionnaire_prompt import CONTRASTS, DEFAULT_CONTRAST, DEFAULT_SITE, SITES

UNFINISHED = 3  # onboard --if-needed: the person left the questionnaire before the end
BROKEN_PIPE = 141  # what a shell reports for a program whose reader went away (128 + SIGPIPE)
CHAT_KEYS = """keys in the chat:
  Enter, up/down   send; walk through what you sent before
  Esc              stop the reply being written (what was written is kept)
  ctrl+r           compare: regenerate the last reply beside itself, unsteered (or at the sidebar's
                   "Compare at" strength); an unsteered reply is regenerated steered
  ctrl+t           steering on/off
  ctrl+n, ctrl+o   new conversation, reopen a saved one
  Tab, left/right  focus a strength in the sidebar and change it; Enter goes back to the message box
  ctrl+q           quit
"""


def strength_value(text: str) -> float:
    """--strength: a finite number in 0..MAX_STRENGTH (inf and nan are numbers to float(), not to us)."""
    from paso_local.runtime import MAX_STRENGTH

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_STRENGTH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside 0..{MAX_STRENGTH:g} (1.0 = the strength align chose, 0 = unsteered)"
        )
    return value


def _add_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help="whose profile to use (default: %(default)s)",
    )


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", metavar="PATH", help="GGUF model file (default: the embedded SmolLM2-135M-Instruct)"
    )
    parser.add_argument(
        "--vector", metavar="FILE", help="control-vector GGUF (default: the profile's vector for the model)"
    )
    parser.add_argument(
        "--strength",
        type=strength_value,
        metavar="X",
        help="scale the vector by X, 0..3 (default 1.0: the aligned strength)",
    )
    parser.add_argument(
        "--no-steer", action="store_true", help="run the model without the personality vector"
    )
    parser.add_argument(
        "--adapter",
        metavar="FILE",
        help="also apply a LoRA adapter GGUF (from `paso-local align --method dpo|ppo`)",
    )
    parser.add_argument(
        "--n-gpu-layers", type=int, default=0, metavar="N", help="layers to offload to a GPU (-1: all)"
    )
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    parser.add_argument(
        "--n-ctx", type=int, default=4096, metavar="N", help="context length in tokens (default %(default)s)"
    )


# --- handlers: each imports what it needs when it runs ----------------------------------------------------------


def cmd_onboard(args: argparse.Namespace) -> int:
    from paso_local.onboarding import import_answers

    if args.import_file:
        profile, path = import_answers(
            args.import_file,
            profile_name=args.profile,
            form=args.form,
            index=args.index,
            case=args.case,
            replace=args.replace,
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
    if args.if_needed and _profile_is_complete(args.profile):
        return 0
    from tui.onboarding import run_onboarding

    return run_onboarding(
        profile_name=args.profile,
        form=args.form,
        resume_command=args.resume_command,
        unfinished_status=UNFINISHED if args.if_needed else 0,
    )


def _profile_is_complete(name: str) -> bool:
    """onboard --if-needed: a finished profile is not shown again (it would wait for a key)."""
    from paso_local.profile import ProfileStore

    profile = ProfileStore().load_or_none(name)
    if profile is None or not profile.complete:
        return False
    print(f"Profile {name!r} is complete ({len(profile.usable_answers())} answers).")
    return True


def cmd_profile(args: argparse.Namespace) -> int:
    from paso_local.profile import ProfileStore
    from paso_local.report import print_profile

    profile = ProfileStore().load(args.profile)
    if args.json:
        print(json.dumps(profile.scores().as_json(), indent=2))
    else:
        print_profile(profile)
    return 0


def cmd_align(args: argparse.Namespace) -> int:
    if args.if_needed and _vector_is_current(args):
        return 0
    if args.method in ("dpo", "ppo"):
        from converters.lora_command import run_align_lora

        return run_align_lora(args)
    from converters.align_command import run_align

    return run_align(args)


def _vector_is_current(args: argparse.Namespace) -> bool:
    """align --if-needed: True (and says so) when the vector align would write is newer than the profile's
    answers, so the minutes of align are not spent again on the same answers."""
    from datetime import datetime
    from pathlib import Path

    from paso_local.modelfiles import resolve_model
    from paso_local.profile import ProfileStore
    from paso_local.vector_store import vector_path_for

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
    from tui.chat import run_chat

    return run_chat(args)


def cmd_ask(args: argparse.Namespace) -> int:
    from paso_local.ask import run_ask

    return run_ask(args)


def cmd_models(args: argparse.Namespace) -> int:
    from paso_local.catalog import run_models

    return run_models(args)


def cmd_check_model(args: argparse.Namespace) -> int:
    from converters.check_model import run_check_model

    return run_check_model(args)


def cmd_eval(args: argparse.Namespace) -> int:
    from converters.eval_aligner import TorchAligner  # imports torch only when a method aligns
    from paso_local.evaluation.command import run_eval

    return run_eval(args, aligner=TorchAligner())


# --- parser -------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paso-local",
        description="An offline personal assistant aligned to your personality (PAS control vectors on llama.cpp). "
        "Nothing leaves this machine.",
    )
    parser.add_argument("--version", action="version", version=f"paso-local {__version__}")
    parser.add_argument(
        "--verbose", action="store_true", help="show llama.cpp's own log lines (hidden by default)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "onboard",
        help="answer the IPIP-NEO questionnaire (or import answers)",
        description="Answer the IPIP-NEO questionnaire in the terminal, one statement at a time. "
        "Progress is saved after every answer: quit any time and run it again to resume.",
    )
    _add_profile(p)
    p.add_argument(
        "--form", choices=["120", "300"], default="120", help="questionnaire length (default %(default)s)"
    )
    p.add_argument(
        "--import",
        dest="import_file",
        metavar="FILE",
        help="take answers from a PAPI-style JSON list (i1..i300) or an item,answer CSV instead of the TUI",
    )
    p.add_argument(
        "--index", type=int, metavar="N", help="with --import of a JSON list: the N-th record (0-based)"
    )
    p.add_argument("--case", metavar="ID", help="with --import of a JSON list: the record whose `case` is ID")
    p.add_argument(
        "--replace", action="store_true", help="with --import: replace an existing profile's answers"
    )
    p.add_argument(
        "--if-needed",
        action="store_true",
        help="for scripts: do nothing when the profile is complete, and exit with status "
        f"{UNFINISHED} when the questionnaire is left before the end",
    )
    # quickstart.sh: what the farewell says to run to go on (hidden: for scripts that wrap onboard)
    p.add_argument("--resume-command", metavar="CMD", help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_onboard)

    p = sub.add_parser(
        "profile",
        help="show a profile's Big Five domain and facet scores",
        description="Show a profile's Big Five domain and facet scores: the mean keyed answer on 1..5 and "
        "0..100. A score needs at least half of its statements answered.",
    )
    _add_profile(p)
    p.add_argument("--json", action="store_true", help="print the scores as JSON (1..5 scale)")
    p.set_defaults(handler=cmd_profile)

    p = sub.add_parser(
        "align",
        help="compute the PAS control vector for a profile and a model",
        description="Compute PAS control vectors from the profile's answers (torch, on the GGUF model "
        "itself), choose the strength by cross-validation on those answers, and export a llama.cpp "
        "control-vector GGUF.",
    )
    _add_profile(p)
    p.add_argument(
        "--model", metavar="PATH", help="GGUF model file (default: the embedded SmolLM2-135M-Instruct)"
    )
    p.add_argument(
        "--out", metavar="FILE", help="where to write the vector (default: the profile's data directory)"
    )
    p.add_argument(
        "--heads", type=int, default=24, metavar="K", help="attention heads to steer (default %(default)s)"
    )
    p.add_argument(
        "--contrast",
        choices=CONTRASTS,
        default=DEFAULT_CONTRAST,
        help="pas: which contrast the vector is built from: the paper's answer letters, the statements in the "
        "model's own voice (agreed against rejected), each statement against its denial (negation), or auto "
        "(cross-validation on your answers picks); default %(default)s",
    )
    p.add_argument(
        "--site",
        choices=SITES,
        default=DEFAULT_SITE,
        help="pas: where the vector acts: the paper's chosen attention heads, the residual-stream mean "
        "difference at one block (letter contrast), or auto (cross-validation picks); default %(default)s",
    )
    p.add_argument(
        "--cv-scoring",
        choices=("llama", "torch"),
        default="llama",
        help="pas: what asks the cross-validation's items with each candidate vector: llama.cpp, exactly as "
        "the chat will run it (default), or the torch model in float32 (faster on some CPUs; see README)",
    )
    p.add_argument(
        "--threads", type=int, metavar="N", help="CPU threads for torch and llama.cpp (default: all cores)"
    )
    p.add_argument("--json", metavar="REPORT", help="also write a JSON report to REPORT ('-' for stdout)")
    p.add_argument(
        "--if-needed",
        action="store_true",
        help="pas: keep the vector when it is newer than the profile's answers (quickstart.sh re-runs)",
    )
    p.add_argument(
        "--method",
        choices=["pas", "dpo", "ppo"],
        default="pas",
        help="pas: a control vector (default); dpo or ppo: a LoRA adapter fine-tuned on your answers",
    )
    p.set_defaults(handler=cmd_align)

    p = sub.add_parser(
        "chat",
        help="the terminal chat app, steered by your vector",
        description="Chat in the terminal with a local GGUF model through llama.cpp, steered by your "
        "profile's personality vector. Conversations are saved after every reply.",
        epilog=CHAT_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_profile(p)
    _add_runtime(p)
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser(
        "ask",
        help="ask one question and stream the answer to stdout",
        description="Ask one question and stream the answer to stdout, steered like the chat. Notices go "
        "to stderr, so stdout holds only the answer.",
    )
    p.add_argument("prompt", metavar="PROMPT", help="the question; '-' reads it from stdin")
    _add_profile(p)
    _add_runtime(p)
    p.add_argument(
        "--max-tokens",
        type=int,
        default=256,
        metavar="N",
        help="most tokens to generate (default %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    p.set_defaults(handler=cmd_ask)

    p = sub.add_parser(
        "models",
        help="list the embedded model and GGUF files found on this machine",
        description="List the embedded model and the GGUF files in your model directories "
        "(PASO_LOCAL_MODEL_DIRS, config.json's model_dirs) and where Ollama, LM Studio, llama.cpp and "
        "Hugging Face keep them, with whether the profile has a vector for each. Only headers are read.",
    )
    _add_profile(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser(
        "check-model",
        help="check that the torch converter computes what llama.cpp computes",
        description="Run prompts through llama.cpp and through paso-local's torch converter, plain and "
        "with a random control vector, and compare the next-token distributions.",
    )
    p.add_argument(
        "--model", metavar="PATH", help="GGUF model file (default: the embedded SmolLM2-135M-Instruct)"
    )
    p.add_argument(
        "--prompts", type=int, default=20, metavar="N", help="prompts to compare (default %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=cmd_check_model)

    p = sub.add_parser(
        "eval",
        help="the paper's protocol (Aligned Score on held-out items) through llama.cpp",
        description="Per subject of a PAPI-style file: align on the 120-form answers, ask the other 180 "
        "items through llama.cpp and score them with the Aligned Score, beside references.",
    )
    p.add_argument(
        "--subjects", required=True, metavar="FILE", help="PAPI-style JSON list of subjects (i1..i300)"
    )
    p.add_argument("--index", metavar="A:B", help="subjects A..B-1 of the file")
    p.add_argument("--cases", metavar="ID,...", help="subjects by case id")
    p.add_argument(
        "--methods",
        default="base,pas",
        metavar="LIST",
        help="comma-separated: base, fewshot, profile-prompt, pas, pas+fewshot, the pas variants (pas-letter, "
        "pas-statement, pas-negation, pas-auto, pas-residual, pas-by-domain, pas-by-domain-key), dpo, ppo "
        "(default %(default)s)",
    )
    p.add_argument(
        "--model", metavar="PATH", help="GGUF model file (default: the embedded SmolLM2-135M-Instruct)"
    )
    p.add_argument(
        "--readout",
        choices=["generate", "distribution"],
        default="distribution",
        help="greedy generation parsed like the paper, or the median of the five-option distribution",
    )
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT ('-' for stdout)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    p.set_defaults(handler=cmd_eval)
    from paso_local.assessment.arguments import add_assess_command  # `assess`: its options and handler

    return add_assess_command(parser)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        from paso_local.runtime import VERBOSE_ENV

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
