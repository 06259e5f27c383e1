"""Bad and awkward input from a new user's walk-through: each is refused or handled in words, never a
traceback, and the quick start survives leaving and coming back."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from paso_local.cli import _vector_is_current, build_parser, main
from paso_local.errors import PasoError
from paso_local.invocation import command_name
from paso_local.llm.controlvector import NO_DIRECTION, ControlVector, write_control_vector
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.vector_store import vector_path_for
from paso_local.tui.onboarding.app import OnboardingApp

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, stdin: bytes | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paso_local", *args],
        input=stdin,
        capture_output=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def complete_profile(name: str = "default") -> Profile:
    answers = {item.number: 1 + (item.number * 7) % 5 for item in form_items("120")}
    profile = Profile(
        name=name, form="120", answers=answers, position=120, completed_at="2026-01-01T00:00:00+00:00"
    )
    ProfileStore().save(profile)
    return profile


# --- ask and --strength ---------------------------------------------------------------------------------------


def test_latin1_bytes_on_stdin_are_refused_in_words():
    done = run_cli(
        "ask", "-", "--no-steer", stdin="Résumé, s'il vous plaît".encode("latin-1"), env={"LC_ALL": "C"}
    )
    err = done.stderr.decode()
    assert done.returncode == 1 and "Traceback" not in err
    assert "the question on stdin is not UTF-8 text (byte 0xe9 at offset 1)" in err and "iconv" in err


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-0.5", "3.5", "1e9", "strong"])
@pytest.mark.parametrize("command", [["ask", "hi"], ["chat"]])
def test_a_strength_that_is_not_a_finite_number_in_range_is_refused(command, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, f"--strength={value}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --strength" in err and repr(value) in err


def test_strengths_in_range_are_kept():
    assert build_parser().parse_args(["ask", "hi", "--strength", "1.5"]).strength == 1.5
    assert build_parser().parse_args(["chat", "--strength", "0"]).strength == 0.0


def test_a_reader_that_goes_away_ends_quietly():
    complete_profile()
    process = subprocess.Popen(
        [sys.executable, "-m", "paso_local", "profile", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    process.stdout.close()  # like `| head` having exited: every write to stdout is a broken pipe
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err and "Exception ignored" not in err


# --- damaged profiles and imports -----------------------------------------------------------------------------


def write_profile_json(**fields) -> Path:
    path = ProfileStore().path("default")
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": "paso-local/profile",
        "schema_version": 1,
        "name": "default",
        "form": "120",
        "answers": {},
    }
    path.write_text(json.dumps({**data, **fields}))
    return path


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"answers": {"x": 3}}, """"answers" key is 'x'; it must be a whole number 1..300"""),
        ({"answers": {"12": "x"}}, """"answers"['12'] is 'x'; it must be a whole number 1..5"""),
        ({"answers": {"12": 4.5}}, """"answers"['12'] is 4.5; it must be a whole number 1..5"""),
        ({"answers": {"12": 9}}, """"answers"['12'] is 9; it must be a whole number 1..5"""),
        ({"answers": [[12, 4]]}, """"answers" is [[12, 4]]; expected an object of item number -> answer"""),
        ({"skipped": "12"}, """"skipped" is '12'; expected a list of item numbers"""),
        ({"position": "first"}, """"position" is 'first'; it must be a whole number 0..300"""),
        ({"form": "90"}, """"form" is '90'; expected one of '120', '300'"""),
    ],
)
def test_a_damaged_profile_names_the_field_and_the_value(fields, said, capsys):
    path = write_profile_json(**fields)
    before = path.read_bytes()
    assert main(["profile"]) == 1
    err = capsys.readouterr().err
    assert f"{path} is a damaged profile: {said}" in err
    for leak in ("invalid literal", "dictionary update sequence", "Traceback"):
        assert leak not in err
    assert path.read_bytes() == before


@pytest.mark.parametrize("value", [4.5, [], {"a": 1}])
def test_an_imported_answer_that_is_not_a_whole_number_says_so(tmp_path, value, capsys):
    record = {f"i{n}": 3 for n in range(1, 301)}
    record["i4"] = value
    source = tmp_path / "answers.json"
    source.write_text(json.dumps([record]))
    assert main(["onboard", "--import", str(source), "--index", "0"]) == 1
    err = capsys.readouterr().err
    assert f"field 'i4': {value!r} must be a whole number 0..5" in err and "outside" not in err


# --- the data directory ---------------------------------------------------------------------------------------


def test_a_data_directory_under_a_file_is_refused_before_the_questionnaire_opens(
    tmp_path, monkeypatch, capsys
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("PASO_LOCAL_HOME", str(blocker / "paso"))
    assert main(["onboard"]) == 1
    err = capsys.readouterr().err
    assert "cannot write your answers in" in err and "Not a directory" in err
    assert "PASO_LOCAL_HOME is" in err and "point it at a directory you can write" in err


# --- the quick start: leaving, coming back, commands as printed ----------------------------------------------


async def test_leaving_the_questionnaire_says_how_to_resume_and_reports_it_unfinished():
    app = OnboardingApp("default", "120", ProfileStore(), resume_command="bash quickstart.sh")
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("1", "2", "ctrl+c")
    assert app.exit_status(3) == 3 and app.exit_status() == 0
    lines = app.farewell().splitlines()
    assert lines[-1] == "Run `bash quickstart.sh` to continue at question 3 of 120."


def test_onboard_if_needed_does_not_show_a_complete_profile_again(capsys):
    complete_profile()
    assert main(["onboard", "--if-needed"]) == 0  # no terminal needed: nothing to ask
    assert "Profile 'default' is complete (120 answers)" in capsys.readouterr().out


def align_args(**overrides) -> argparse.Namespace:
    args = build_parser().parse_args(["align", "--if-needed"])
    return argparse.Namespace(**{**vars(args), **overrides})


def test_align_if_needed_keeps_a_vector_newer_than_the_answers(smollm2_path, capsys):
    profile = complete_profile()
    assert not _vector_is_current(align_args())  # no vector yet: align runs
    path = vector_path_for("default", smollm2_path)
    write_control_vector(ControlVector("llama", {1: np.ones(576, dtype=np.float32)}, 576), path)
    answered = time.mktime(time.strptime(profile.updated_at[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    os.utime(path, (answered - 60, answered - 60))
    assert not _vector_is_current(align_args())  # older than the answers: align runs again
    os.utime(path, (answered + 60, answered + 60))
    assert _vector_is_current(align_args())
    assert f"Kept {path}: it is newer than the answers of profile 'default'" in capsys.readouterr().err
    assert not _vector_is_current(align_args(method="dpo"))  # adapters are not checked: always trained


def test_quickstart_resumes_and_reuses_instead_of_starting_over():
    script = (ROOT / "quickstart.sh").read_text()
    assert '--if-needed --resume-command "bash quickstart.sh"' in script
    assert "align --if-needed" in script and "set -euo pipefail" in script


def test_suggested_commands_work_as_typed_from_the_project_folder(tmp_path, monkeypatch):
    script = tmp_path / ".venv" / "bin" / "paso-local"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert command_name(str(script), cwd=tmp_path) == ".venv/bin/paso-local"
    assert command_name(".venv/bin/paso-local", cwd=tmp_path) == ".venv/bin/paso-local"
    assert command_name("/usr/lib/python3/paso_local/__main__.py", cwd=tmp_path) == "paso-local"
    monkeypatch.setenv("PATH", f"{script.parent}:/usr/bin:/bin")  # activated: the plain name works
    assert command_name(str(script), cwd=tmp_path) == "paso-local"


def test_errors_suggest_the_command_as_it_was_started(tmp_path):
    script = ROOT / ".venv" / "bin" / "paso-local"
    if not script.exists():
        pytest.skip("no .venv/bin/paso-local")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = "/usr/bin:/bin"
    done = subprocess.run(
        [".venv/bin/paso-local", "profile"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 1 and "`.venv/bin/paso-local onboard --profile default`" in done.stderr


# --- help pages -----------------------------------------------------------------------------------------------


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("name", sorted(subparsers()))
def test_every_help_page_has_a_description(name):
    assert subparsers()[name].description


def test_chat_help_lists_its_keys(capsys):
    with pytest.raises(SystemExit):
        main(["chat", "--help"])
    out = capsys.readouterr().out
    for key in ("Esc", "ctrl+r", "ctrl+t", "ctrl+n, ctrl+o", "ctrl+q"):
        assert key in out


# --- on the real model: context size, an empty vector -----------------------------------------------------------


@pytest.mark.model
def test_a_prompt_too_long_for_a_rounded_up_context_names_both_numbers(smollm2_path):
    from paso_local.llm.runtime import Runtime

    with Runtime.open(smollm2_path, n_ctx=128, n_threads=1) as runtime:
        with pytest.raises(PasoError) as caught:
            runtime.stream_chat([{"role": "user", "content": "word " * 400}])
    message = str(caught.value)
    assert (
        f"does not fit the {runtime.info.n_ctx}-token context (--n-ctx 128, rounded up by llama.cpp)"
        in message
    )


def empty_vector(path: Path, smollm2_path: Path) -> Path:
    zeros = {layer: np.zeros(576, dtype=np.float32) for layer in range(1, 30)}
    write_control_vector(
        ControlVector("llama", zeros, 576, {"model_file": smollm2_path.name, "strength": 0.0}), path
    )
    return path


@pytest.mark.model
def test_the_chat_backend_reports_a_vector_at_strength_0_as_empty(tmp_path, smollm2_path):
    from paso_local.tui.chat.backend import RuntimeBackend, RuntimeOptions

    vector = empty_vector(tmp_path / "zero.gguf", smollm2_path)
    backend = RuntimeBackend(
        RuntimeOptions(model=str(smollm2_path), vector=str(vector), n_ctx=256, threads=1)
    )
    try:
        info = backend.load()
        assert info.vector_name == "zero.gguf" and info.vector_empty
    finally:
        backend.close()


@pytest.mark.model
def test_ask_with_a_vector_at_strength_0_says_it_is_unsteered(tmp_path, smollm2_path):
    vector = empty_vector(tmp_path / "zero.gguf", smollm2_path)
    done = run_cli(
        "ask",
        "Hi",
        "--vector",
        str(vector),
        "--json",
        "--max-tokens",
        "2",
        "--threads",
        "1",
        "--n-ctx",
        "256",
    )
    assert done.returncode == 0, done.stderr
    assert NO_DIRECTION in done.stderr.decode()
    result = json.loads(done.stdout)
    assert (result["steered"], result["strength"]) == (False, 0.0)


def test_align_says_plainly_when_the_vector_is_empty():
    from paso_local.converters.align_command import describe

    report = {
        "vector_path": "/x/v.gguf",
        "vector_kind": "combined",
        "contrast": "letter",
        "heads": [[12, 3]] * 24,
        "strength": 0.0,
        "cv_aligned_score": {"base": 3.5, "steered": 3.5},
        "usable_answers": 120,
        "seconds": 30.0,
    }
    assert f"Strength 0: {NO_DIRECTION}." in describe(report)
    assert NO_DIRECTION not in describe({**report, "strength": 0.5})


def test_the_time_left_comes_from_the_average_pace():
    from rich.progress import Progress

    from paso_local.progress import TimeLeftColumn

    progress = Progress()
    task_id = progress.add_task("cv", total=10)
    task = progress.tasks[0]
    assert str(TimeLeftColumn().render(task)) == "-:--:--"
    progress.start_task(task_id)
    task.start_time = task.get_time() - 120  # two steps in two minutes: far slower than rich's 30 s window
    progress.update(task_id, completed=2)
    left = str(TimeLeftColumn().render(task))
    assert left.startswith("0:0") and left != "-:--:--"
    hours, minutes, seconds = map(int, left.split(":"))
    assert 470 <= hours * 3600 + minutes * 60 + seconds <= 490  # 8 steps left at 60 s each


@pytest.mark.model
def test_a_later_turn_replies_as_a_fresh_context_would_so_a_compare_differs_only_by_steering(smollm2_path):
    """A compare is always computed afresh (its steering change drops the cache); the reply it sits beside
    was computed on the cached conversation. With the same seed they must be the same text. (With
    llama-cpp-python's own prefix reuse, this conversation's third reply differed: measured.)"""
    from paso_local.llm.generation import PREFILL_CHUNK, Sampling
    from paso_local.llm.runtime import Runtime

    sampling = Sampling(max_tokens=40)
    turns = [
        "Tell me about your favourite hobby.",
        "Why do you like it so much?",
        "And what else do you do on weekends?",
    ]
    with Runtime.open(smollm2_path, n_ctx=1024, n_threads=1) as runtime:
        history = [{"role": "user", "content": turns[0]}]
        for turn in turns[1:]:
            reply = runtime.stream_chat(history, sampling=sampling).collect()
            history += [{"role": "assistant", "content": reply}, {"role": "user", "content": turn}]
        assert runtime.count_tokens(history) > PREFILL_CHUNK  # a whole chunk of the cache is reused
        on_the_cache = runtime.stream_chat(history, sampling=sampling).collect()
        runtime._llm.reset()  # what a change of steering does
        afresh = runtime.stream_chat(history, sampling=sampling).collect()
    assert on_the_cache == afresh
