"""Align's cost table: per stage, the prompts evaluated, tokens decoded, seconds and share, from the counters
align itself keeps (`align --json`'s "cost"), for a first align (activations computed), then each later subject
as a second profile on the same model (everything per-model cached), and again with `--no-torch-screen` or
`--cv-search full` (the searches before), with each one's ratio to the cached align.

    .venv/bin/python benchmarks/align_cost.py [--model PATH] [--data ../shared/data/papi_dev.json]
        [--subjects 10 11 [12 ...]] [--threads 2] [--runs first,cached,no-torch-screen,full]
        [--no-torch-screen] [--json FILE]

Each align is its own `paso-local` process in one fresh PASO_LOCAL_HOME (the model copies directory is kept,
so the embedded model's fast copy is not timed). Run it on an idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "papi_dev.json"


def paso(home: Path, *args: str) -> tuple[float, str]:
    from paso_local.llm.requantize import COPIES_ENV, requantized_dir

    env = dict(os.environ, PASO_LOCAL_HOME=str(home))
    env.setdefault(COPIES_ENV, str(requantized_dir()))  # this user's copies: the copy is not what is timed
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "paso_local", *args], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"paso-local {' '.join(args)} failed:\n{proc.stderr}")
    return time.perf_counter() - started, proc.stdout


def table(label: str, wall: float, report: dict) -> str:
    lines = [
        f"### {label}: {wall:.1f} s wall, align {report['seconds']} s, peak RSS {report['peak_rss_mb']} MB, "
        f"search {report['cv_search']}{'' if report.get('cv_torch_screen', False) else ', no torch screen'}, "
        f"strength {report['strength']}",
        "",
        "| stage | prompts | tokens | torch-screened prompts | seconds | share | peak RSS at its end |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in report["cost"]:
        lines.append(
            f"| {row['stage']} | {row['evaluations']} | {row['tokens']} | {row.get('torch_screened', 0)} | "
            f"{row['seconds']:.2f} | {100 * row['share']:.1f}% | {row.get('peak_rss_mb', '-')} MB |"
        )
    total = report["cost"]
    lines.append(
        f"| **total** | {sum(r['evaluations'] for r in total)} | {sum(r['tokens'] for r in total)} | "
        f"{sum(r.get('torch_screened', 0) for r in total)} | {sum(r['seconds'] for r in total):.2f} | | |"
    )
    return "\n".join(lines)


def ratios(results: list[dict]) -> str:
    """Per later subject, each run's align seconds against its `second profile (cached)` run's."""
    lines = []
    for index in dict.fromkeys(r["subject"] for r in results):
        mine = {r["label"]: r for r in results if r["subject"] == index}
        base = mine.get("second profile (cached)")
        for label, r in mine.items():
            if base is not None and r is not base:
                ratio = base["report"]["seconds"] / r["report"]["seconds"]
                lines.append(f"subject {index}: cached align / {label}: {ratio:.2f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument(
        "--subjects",
        type=int,
        nargs="+",
        default=(10, 11),
        metavar="N",
        help="the first align's subject, then the subjects each later run aligns in turn",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--no-torch-screen", action="store_true", help="align with --no-torch-screen (the search before it)"
    )
    parser.add_argument(
        "--runs",
        default="first,cached,full",
        help="which aligns, in order (first: fresh caches; cached: a second profile; no-torch-screen: it again "
        "with --no-torch-screen; full: it again with --cv-search full); a 1.5B's first align alone is about "
        "20 minutes",
    )
    args = parser.parse_args()
    if len(args.subjects) < 2:
        parser.error("--subjects: give at least two (the first align's, then a second profile's)")
    model = ["--model", args.model] if args.model else []
    screen = ["--no-torch-screen"] if args.no_torch_screen else []
    kinds = {
        "first": ("first align", "outward", screen),
        "cached": ("second profile (cached)", "outward", screen),
        "no-torch-screen": ("second profile, --no-torch-screen", "outward", ["--no-torch-screen"]),
        "full": ("second profile, --cv-search full", "full", screen),
    }
    chosen = [name.strip() for name in args.runs.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in kinds]
    if unknown or not chosen:
        parser.error(f"--runs {args.runs!r}: choose from {', '.join(kinds)}")
    runs = [kinds["first"] + (args.subjects[0],)] if "first" in chosen else []
    later = [name for name in chosen if name != "first"]
    for turn, index in enumerate(args.subjects[1:]):  # the order alternates, so drift favours none
        runs += [kinds[name] + (index,) for name in (later if turn % 2 == 0 else later[::-1])]
    results = []
    with tempfile.TemporaryDirectory(prefix="paso-cost-") as tmp:
        home = Path(tmp)
        for index in sorted(set(args.subjects)):
            paso(home, "onboard", "--profile", f"s{index}", "--import", str(args.data), "--index", str(index))
        for label, search, flags, index in runs:
            wall, out = paso(
                home,
                "align",
                "--profile",
                f"s{index}",
                *model,
                "--cv-search",
                search,
                "--threads",
                str(args.threads),
                *flags,
                "--json",
                "-",
            )
            report = json.loads(out[out.index("{") :])
            results.append(
                {"label": label, "subject": index, "wall_seconds": round(wall, 1), "report": report}
            )
            print(table(f"{label} (subject {index})", wall, report) + "\n", flush=True)
    print(ratios(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
