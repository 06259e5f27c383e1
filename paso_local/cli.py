"""The `paso-local` command. Each subcommand imports its heavy parts (torch, Textual, llama.cpp) only when run."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from paso_local import __version__
from paso_local.errors import PasoError
from paso_local.profile import DEFAULT_PROFILE
from paso_local.questionnaire_prompt import CONTRASTS, DEFAULT_CONTRAST, DEFAULT_SITE, SITES

Handler = Callable[[argparse.Namespace], int]


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
        type=float,
        metavar="X",
        help="scale the vector by X (default 1.0: the aligned strength)",
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
        print("Next: `paso-local profile` to see the scores, `paso-local align` to build the vector.")
        return 0
    if args.index is not None or args.case is not None:
        raise PasoError("--index and --case choose a record of --import FILE; give --import too")
    from tui.onboarding import run_onboarding

    return run_onboarding(profile_name=args.profile, form=args.form)


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
    if args.method in ("dpo", "ppo"):
        from converters.lora_align import run_align_lora

        return run_align_lora(args)
    from converters.align_command import run_align

    return run_align(args)


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
    from paso_local.evaluation.command import run_eval

    return run_eval(args)


# --- parser -------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paso-local",
        description="An offline personal assistant aligned to your personality (PAS control vectors on llama.cpp). "
        "Nothing leaves this machine.",
    )
    parser.add_argument("--version", action="version", version=f"paso-local {__version__}")
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
    p.set_defaults(handler=cmd_onboard)

    p = sub.add_parser("profile", help="show a profile's Big Five domain and facet scores")
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
    p.add_argument("--json", metavar="REPORT", help="also write a JSON report to REPORT ('-' for stdout)")
    p.add_argument(
        "--method",
        choices=["pas", "dpo", "ppo"],
        default="pas",
        help="pas: a control vector (default); dpo or ppo: a LoRA adapter fine-tuned on your answers",
    )
    p.set_defaults(handler=cmd_align)

    p = sub.add_parser("chat", help="the terminal chat app, steered by your vector")
    _add_profile(p)
    _add_runtime(p)
    p.set_defaults(handler=cmd_chat)

    p = sub.add_parser("ask", help="ask one question and stream the answer to stdout")
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

    p = sub.add_parser("models", help="list the embedded model and GGUF files found on this machine")
    _add_profile(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("check-model", help="check that the torch converter computes what llama.cpp computes")
    p.add_argument(
        "--model", metavar="PATH", help="GGUF model file (default: the embedded SmolLM2-135M-Instruct)"
    )
    p.add_argument(
        "--prompts", type=int, default=20, metavar="N", help="prompts to compare (default %(default)s)"
    )
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(handler=cmd_check_model)

    p = sub.add_parser(
        "eval", help="the paper's protocol (Aligned Score on held-out items) through llama.cpp"
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args.handler(args) or 0)
    except PasoError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
