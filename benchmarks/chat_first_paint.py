"""`paso-local chat` from start to first paint (target: <= 2 s), and to the model being ready.

Runs the real command in a pseudo-terminal (120x40) and reads what it draws: the first paint is when the
sidebar's "Steering" title reaches the terminal, "ready" when the status line says the model has loaded.
Then ctrl+q quits. A fresh PASO_LOCAL_HOME each run (no profile: the chat says what to run and is unsteered).

Usage: .venv/bin/python benchmarks/chat_first_paint.py [--runs 5] [--threads 2]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")
PAINTED, READY = "Steering", "ready"
COLUMNS, ROWS = 120, 40


def run_once(command: list[str], env: dict[str, str], timeout: float = 120.0) -> tuple[float, float]:
    """Seconds from spawn to first paint and to "ready" (nan if the model was not ready within `timeout`)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
    )
    os.close(slave)
    seen, painted, ready = "", None, None
    try:
        while ready is None and time.perf_counter() - started < timeout:
            readable, _, _ = select.select([master], [], [], 0.05)
            if not readable:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            seen = (seen + ANSI.sub("", chunk.decode("utf-8", errors="replace")))[-20000:]
            now = time.perf_counter() - started
            if painted is None and PAINTED in seen:
                painted = now
            if painted is not None and READY in seen:
                ready = now
        os.write(master, b"\x11")  # ctrl+q
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    finally:
        os.close(master)
    if painted is None:
        raise SystemExit(f"no first paint within {timeout} s; last output:\n{seen[-2000:]}")
    return painted, ready if ready is not None else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    cli = shutil.which("paso-local", path=str(Path(sys.executable).parent)) or "paso-local"
    command = [cli, "chat", "--threads", str(args.threads)]
    paints, readies = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            home = Path(tmp) / f"home{run}"
            env = {
                **os.environ,
                "PASO_LOCAL_HOME": str(home),
                "TERM": "xterm-256color",
                "COLUMNS": str(COLUMNS),
                "LINES": str(ROWS),
            }
            painted, ready = run_once(command, env)
            paints.append(painted)
            readies.append(ready)
    table = Table(title=f"paso-local chat, {args.runs} runs, {COLUMNS}x{ROWS} pseudo-terminal")
    for column in ("", "median s", "min s", "max s"):
        table.add_column(column, justify="right")
    for name, values in (("start -> first paint", paints), ("start -> model ready", readies)):
        values = [v for v in values if v == v] or [float("nan")]  # drop runs that timed out (nan)
        table.add_row(name, f"{statistics.median(values):.2f}", f"{min(values):.2f}", f"{max(values):.2f}")
    console = Console()
    console.print(table)
    console.print(f"target: first paint <= 2 s. Load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
