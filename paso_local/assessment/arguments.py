"""`paso-local assess`'s options, added to the CLI's parser (nothing heavy is imported here)."""

from __future__ import annotations

import argparse

from paso_local.cli_parser import add_orientation

DEFAULT_METHODS = "base,profile-prompt,pas"
DEFAULT_ITEMS = 20


def run(args: argparse.Namespace) -> int:
    from paso_local.assessment.command import run_assess

    return run_assess(args)


def add_assess_command(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the `assess` subcommand to the `paso-local` parser; returns the parser."""
    # argparse has no public getter for the subcommands of a built parser: find its one subparsers action
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.add_parser(
        "assess",
        help="open-ended assessment: replies in free text, rated by a local judge validated first",
        description="Each method's model answers held-out statements in free text; a local judge model "
        "rates each reply 1..6 against the person's own answer (from its distribution over the digits), "
        "after a validation on the same statements shows whether it can tell agreeing from disagreeing "
        "replies. Beside it: perplexity, empty/truncated/repetitive replies, and a judge-free round trip. "
        "Checkpointed per subject; --resume continues.",
    )
    p.add_argument("--subjects", metavar="FILE", help="PAPI-style JSON list of subjects (i1..i300)")
    p.add_argument("--index", metavar="A:B", help="subjects A..B-1 of the file")
    p.add_argument("--cases", metavar="ID,...", help="subjects by case id")
    add_orientation(p)
    p.add_argument("--profile", metavar="NAME", help="assess a profile that answered the 300 form instead")
    p.add_argument("--model", metavar="PATH", help="GGUF the methods run on (default: the embedded model)")
    p.add_argument(
        "--judge",
        metavar="PATH",
        help="GGUF that rates the replies (default: --model, else the embedded model)",
    )
    p.add_argument(
        "--methods",
        default=DEFAULT_METHODS,
        metavar="LIST",
        help="comma-separated: base, profile-prompt, pas, memory, reader, and the names given to --vector "
        "(default %(default)s)",
    )
    p.add_argument(
        "--reader",
        metavar="FILE",
        help="reader: the profile reader's LoRA GGUF (default: the model's own, trained here or shipped)",
    )
    p.add_argument(
        "--vectors", metavar="DIR", help="pas: the subjects' vectors, <case>.gguf or subject-<index>.gguf"
    )
    p.add_argument(
        "--vector",
        action="append",
        metavar="NAME=PATH",
        help="another method: steered by PATH (a vector file, or a directory of per-subject files); repeatable",
    )
    p.add_argument("--strength", type=float, metavar="X", help="scale every vector by X (default 1.0)")
    p.add_argument(
        "--items",
        type=int,
        default=DEFAULT_ITEMS,
        metavar="N",
        help="held-out statements, a seeded subset (default %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the subset (default 0)")
    p.add_argument(
        "--max-tokens", type=int, default=96, metavar="N", help="most tokens per reply (default %(default)s)"
    )
    p.add_argument(
        "--sampling",
        choices=["greedy", "chat"],
        default="greedy",
        help="greedy (temperature 0, no repeat penalty; default) or the chat's seeded sampling",
    )
    p.add_argument(
        "--out", metavar="DIR", help="checkpoint directory (default: one per settings, in the data dir)"
    )
    p.add_argument(
        "--resume", action="store_true", help="continue the checkpointed run with the same settings"
    )
    p.add_argument("--json", metavar="OUT", help="write the results as JSON to OUT ('-' for stdout)")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    p.add_argument(
        "--n-ctx", type=int, default=4096, metavar="N", help="context length (default %(default)s)"
    )
    p.add_argument(
        "--judge-n-ctx", type=int, metavar="N", help="the judge's context length (default: --n-ctx)"
    )
    p.set_defaults(handler=run)
    return parser
