"""The `paso-local` command line: every subcommand's options (the handlers live in paso_local.cli, which passes
them in). Nothing here imports anything heavy."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from typing import Any

from paso_local import __version__
from paso_local.person.profile import DEFAULT_PROFILE
from paso_local.person.questionnaire_prompt import CONTRASTS, DEFAULT_CONTRAST, DEFAULT_SITE, SITES

Handler = Callable[[argparse.Namespace], int]
UNFINISHED = 3  # onboard --if-needed: the person left the questionnaire before the end
# align --cv-search, the default first (converters.strength.SEARCH_POLICIES holds them; a test keeps both in step)
CV_SEARCHES = ("outward", "full")
# paso_local.llm.requantize.FTYPES
REQUANTIZE_TYPES = ("F16", "BF16", "F32", "Q8_0", "Q6_K", "Q4_K_M", "Q4_0")
CHAT_KEYS = """keys in the chat:
  Enter, up/down   send; walk through what you sent before
  Esc              stop the reply being written (what was written is kept)
  ctrl+r           compare: regenerate the last reply beside itself, unsteered (or at the sidebar's
                   "Compare at" strength); an unsteered reply is regenerated steered
  ctrl+t           steering on/off
  ctrl+p           the profile prompt on/off (from this conversation on if nothing is sent yet, else
                   from the next one)
  ctrl+y           the answer memory on/off: your answers on what each message is about (next message);
                   the profile reader (--reader) reads them
  ctrl+n, ctrl+o   new conversation, reopen a saved one
  Tab, left/right  focus a strength in the sidebar and change it; Enter goes back to the message box
  ctrl+q           quit
"""


def strength_value(text: str) -> float:
    """--strength: a finite number in 0..MAX_STRENGTH (inf and nan are numbers to float(), not to us)."""
    from paso_local.llm.steering import MAX_STRENGTH

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or not 0.0 <= value <= MAX_STRENGTH:
        raise argparse.ArgumentTypeError(
            f"{text!r} is outside 0..{MAX_STRENGTH:g} (1.0 = the strength align chose, 0 = unsteered)"
        )
    return value


def _positive_int(text: str) -> int:
    """A whole number >= 1 (argparse's int accepts 0 and negatives)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


def _add_profile(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help="whose profile to use (default: %(default)s)",
    )


def add_orientation(parser: argparse.ArgumentParser) -> None:
    """--orientation for every command that reads a subjects or answers file (paso_local.person.subjects)."""
    parser.add_argument(
        "--orientation",
        choices=["keyed", "chosen"],
        help="what the file's values are: `keyed` (6 - the chosen option on minus-keyed items, as the "
        "published PAPI files store them) or `chosen` (the option the person picked). Default: keyed for a "
        "JSON list, chosen for an item,answer CSV. A file of 20+ subjects that contradicts it is refused",
    )


def _add_rpc(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rpc",
        metavar="HOST:PORT[,...]",
        help="split the model over these llama.cpp rpc-servers (default: config.json's rpc_servers; "
        '--rpc "" for none); weights and activations travel unencrypted: use a private network',
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
        "--profile-prompt",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="describe you to the model in the system prompt: your Big Five domain and facet scores from "
        'the profile (default: config.json\'s "profile_prompt", else on for every model but the embedded '
        "SmolLM2, where it was measured to make answers worse)",
    )
    parser.add_argument(
        "--memory",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="show the model your own answers to the questionnaire statements each message is about "
        '(matched locally; default: config.json\'s "answer_memory", else off: eval has not shown it helps)',
    )
    parser.add_argument(
        "--adapter",
        metavar="FILE",
        help="also apply a LoRA adapter GGUF (from `paso-local align --method dpo|ppo`)",
    )
    parser.add_argument(
        "--reader",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="apply the model's profile reader (`paso-local train-reader`; shipped for the embedded model), "
        "a LoRA trained to read your answers, and show it the answer memory (turns --memory on); default: "
        'config.json\'s "profile_reader", else off: it helps on the questionnaire, but made free-text replies '
        "worse where measured (SmolLM2)",
    )
    parser.add_argument(
        "--n-gpu-layers",
        type=int,
        metavar="N",
        help="layers to offload to a GPU or the --rpc servers (-1: all; default: all with --rpc, else none)",
    )
    _add_rpc(parser)
    parser.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    parser.add_argument(
        "--n-ctx", type=int, default=4096, metavar="N", help="context length in tokens (default %(default)s)"
    )


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The parser; `handlers`: subcommand name -> the function that runs it."""
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
    _add_onboard_command(sub, handlers)
    _add_profile_command(sub, handlers)
    _add_align_command(sub, handlers)
    _add_chat_command(sub, handlers)
    _add_ask_command(sub, handlers)
    _add_models_command(sub, handlers)
    _add_check_model_command(sub, handlers)
    _add_requantize_command(sub, handlers)
    _add_train_reader_command(sub, handlers)
    _add_eval_command(sub, handlers)
    return parser


def _add_onboard_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
    add_orientation(p)
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
    p.set_defaults(handler=handlers["onboard"])


def _add_profile_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
    p = sub.add_parser(
        "profile",
        help="show a profile's Big Five domain and facet scores",
        description="Show a profile's Big Five domain and facet scores: the mean keyed answer on 1..5 and "
        "0..100. A score needs at least half of its statements answered.",
    )
    _add_profile(p)
    p.add_argument("--json", action="store_true", help="print the scores as JSON (1..5 scale)")
    p.set_defaults(handler=handlers["profile"])


def _add_align_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
        "the chat will run it (default), or the torch model in float32 (faster on some CPUs; see docs/performance.md)",
    )
    p.add_argument(
        "--cv-search",
        choices=CV_SEARCHES,
        default=CV_SEARCHES[0],
        help="pas: which strengths the cross-validation asks: outward (each sign from the weakest strength out, "
        "stopping where the score gets worse; default) or full (every strength of the grid); then a refinement "
        "around the best either way. docs/performance.md has the measurement",
    )
    p.add_argument(
        "--no-torch-screen",
        action="store_true",
        help="pas: screen each strength through llama.cpp alone. By default, on a model small enough for the "
        "torch model to hold all its weights (the embedded one), torch scores a strength's items first and "
        "llama.cpp is asked a quarter of them to check it: faster, about 0.5 GB more memory",
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
    p.set_defaults(handler=handlers["align"])


def _add_chat_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
    p.set_defaults(handler=handlers["chat"])


def _add_ask_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
    p.set_defaults(handler=handlers["ask"])


def _add_models_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
    p = sub.add_parser(
        "models",
        help="list the embedded model and GGUF files found on this machine",
        description="List the embedded model and the GGUF files in your model directories "
        "(PASO_LOCAL_MODEL_DIRS, config.json's model_dirs) and where Ollama, LM Studio, llama.cpp and "
        "Hugging Face keep them, with whether the profile has a vector for each. Only headers are read.",
    )
    _add_profile(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(handler=handlers["models"])


def _add_requantize_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
    p = sub.add_parser(
        "requantize",
        help="copy a GGUF model into a type whose CPU kernels are faster here",
        description="Re-quantise a GGUF model once with llama.cpp's own quantizer and keep the copy in the "
        "data directory (the embedded model gets its copy automatically). Use the copy with --model; align "
        "again for it, since a vector is made for one file. Going from a 4-bit file to F16, BF16 or F32 adds no "
        "information: it only changes the kernels (docs/performance.md has the measurements).",
    )
    p.add_argument("--model", metavar="PATH", required=True, help="the GGUF model file to copy")
    p.add_argument(
        "--type",
        choices=REQUANTIZE_TYPES,
        default=None,
        help="the copy's type (default: F16, BF16 or, for a small model, F32, whichever a short timing "
        "finds fastest here)",
    )
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for the quantizer (default: all)")
    p.add_argument("--json", action="store_true", help="print the copy's path, type and sha256 as JSON")
    p.set_defaults(handler=handlers["requantize"])


def _add_train_reader_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
    p = sub.add_parser(
        "train-reader",
        help="train a LoRA that teaches a model to read a person's answers (synthetic people)",
        description="Train one LoRA adapter for a model on synthetic people (fitted to real answers; only the "
        "120-form statements): each example is a question after the person's related answers, the target the "
        "option they chose. Validated every epoch on new people and on questions never trained on; "
        "checkpointed after every epoch (--resume). Written as a llama.cpp LoRA GGUF.",
    )
    p.add_argument("--model", metavar="PATH", help="GGUF model (default: the embedded model)")
    p.add_argument("--out", metavar="FILE", help="adapter file (default: readers/ in the data directory)")
    p.add_argument("--people", type=int, default=300, help="synthetic training people (default %(default)s)")
    p.add_argument(
        "--validation-people", type=int, default=60, help="synthetic validation people (default %(default)s)"
    )
    p.add_argument("--per-person", type=int, default=4, help="questions per person (default %(default)s)")
    p.add_argument("--epochs", type=int, default=4, help="passes over the examples (default %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default %(default)s)")
    p.add_argument("--resume", action="store_true", help="go on from the checkpoint beside --out")
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: all)")
    p.add_argument("--json", metavar="OUT", help="write the report (validation per epoch) to OUT")
    p.set_defaults(handler=handlers["train-reader"])


def _add_check_model_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
    p.set_defaults(handler=handlers["check-model"])


def _add_eval_command(sub: Any, handlers: Mapping[str, Handler]) -> None:
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
    add_orientation(p)
    p.add_argument(
        "--methods",
        default="base,pas",
        metavar="LIST",
        help="comma-separated (or `none`: the no-LLM references only): base, fewshot, profile-prompt, "
        "retrieval, retrieval+profile (and retrieval-turns, retrieval-list, retrieval-both, "
        "retrieval-same-key-turns, retrieval-same-key-list, retrieval-same-key-turns-inventory), pas, "
        "pas+fewshot, the pas variants (pas-letter, pas-statement, pas-negation, pas-auto, pas-residual, "
        "pas-by-domain, pas-by-domain-key), dpo, ppo, "
        "reader, reader-profile (the profile reader of train-reader) (default %(default)s)",
    )
    p.add_argument(
        "--k",
        type=_positive_int,
        metavar="N",
        help="retrieval and reader methods: how many of the person's most related answers precede each "
        "question (default 16 for retrieval, the best of 4, 8 and 16 measured on a 1.5B; 4 for the reader "
        "methods, the k their adapter was trained with)",
    )
    p.add_argument(
        "--reader",
        metavar="FILE",
        help="reader methods: the profile reader's LoRA GGUF (default: the one `paso-local train-reader` wrote "
        "for --model)",
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
    p.add_argument(
        "--no-control",
        action="store_true",
        help="leave out the other-person control (each method scored on the next subject's predictions)",
    )
    p.add_argument(
        "--keep-vectors",
        metavar="DIR",
        help="keep each subject's aligned vector as DIR/<contrast>-<site>/subject-<index>.gguf (pas: "
        "DIR/letter-heads), the layout `paso-local assess --vectors` reads",
    )
    p.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")
    _add_rpc(p)
    p.set_defaults(handler=handlers["eval"])
