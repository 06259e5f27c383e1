"""Progress bars: a log that is not a terminal gets plain progress lines with counts and time left."""

from __future__ import annotations

import io

from rich.console import Console

from paso_local import progress


def test_a_log_file_gets_progress_lines(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress, "_stderr", Console(file=out, force_terminal=False, width=120))
    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    with progress.progress_bar("asking", 4) as bar:
        for _ in range(3):
            bar.advance()
    text = out.getvalue()
    assert "asking: 1/4" in text and "asking: 3/4" in text
    assert "left" in text and "elapsed" in text


def test_time_left_at_the_average_pace():
    assert progress._time_left(10.0, 2, 6) == "0:00:20"
    assert progress._time_left(10.0, 0, 6) == "-:--:--"
