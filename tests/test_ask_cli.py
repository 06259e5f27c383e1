"""`paso-local ask` end to end on SmolLM2, and that neither `ask` nor `chat` imports torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from paso_local.llm.controlvector import ControlVector, write_control_vector
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.vector_store import vector_path_for

pytestmark = pytest.mark.model

FAST = ["--threads", "1", "--n-ctx", "512"]


def ask(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "paso_local", "ask", *args, *FAST],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
    )


def vector(path, n_embd: int = 576, norm: float = 8.0, seed: int = 0):
    rng = np.random.default_rng(seed)
    directions = {}
    for layer in range(1, 30):
        v = rng.standard_normal(n_embd)
        directions[layer] = (v / np.linalg.norm(v) * norm).astype(np.float32)
    write_control_vector(ControlVector("llama", directions, n_embd, {"model_file": "test"}), path)
    return path


def test_ask_json_end_to_end():
    done = ask("Name a colour.", "--json", "--max-tokens", "4", "--no-steer")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {
        "text",
        "tokens",
        "tokens_per_second",
        "steered",
        "strength",
        "adapter",
        "profile_reader",
        "profile_prompt",
        "answers_in_use",
    }
    assert result["adapter"] is None and result["profile_prompt"] is False  # no profile, nothing to describe
    assert result["answers_in_use"] is None  # the memory is off by default
    assert 1 <= result["tokens"] <= 4 and result["text"].strip()
    assert result["tokens_per_second"] > 0
    assert (result["steered"], result["strength"]) == (False, 0.0)


def test_ask_streams_text_and_reads_the_prompt_from_stdin():
    from_argument = ask("Name a colour.", "--max-tokens", "6", "--no-steer")
    from_stdin = ask("-", "--max-tokens", "6", "--no-steer", stdin="Name a colour.\n")
    assert from_argument.returncode == from_stdin.returncode == 0, from_stdin.stderr
    assert from_argument.stdout.strip() and from_stdin.stdout == from_argument.stdout


def test_ask_uses_the_profiles_vector_for_the_model(smollm2_path):
    ProfileStore().save(Profile(name="default", answers={item.number: 4 for item in form_items("120")}))
    plain = ask("Describe yourself.", "--json", "--max-tokens", "8")
    assert "has no vector for" in plain.stderr and "paso-local align" in plain.stderr
    assert json.loads(plain.stdout)["steered"] is False
    vector(vector_path_for("default", smollm2_path))
    steered = ask("Describe yourself.", "--json", "--max-tokens", "8", "--strength", "1.5")
    assert steered.returncode == 0, steered.stderr
    result = json.loads(steered.stdout)
    assert (result["steered"], result["strength"]) == (True, 1.5)
    assert result["text"] != json.loads(plain.stdout)["text"]


def test_the_profile_prompt_is_asked_for_by_flag_or_config_and_off_by_default_on_the_embedded_model():
    from paso_local.store.config import config_path

    answers = {item.number: 1 + item.number % 5 for item in form_items("120")}
    ProfileStore().save(Profile(name="default", answers=answers))
    question = ("Describe yourself in one sentence.", "--json", "--max-tokens", "12", "--no-steer")
    plain, described = ask(*question), ask(*question, "--profile-prompt")
    assert described.returncode == plain.returncode == 0, described.stderr + plain.stderr
    assert json.loads(plain.stdout)["profile_prompt"] is False  # SmolLM2: measured slightly worse with it
    assert json.loads(described.stdout)["profile_prompt"] is True
    assert json.loads(described.stdout)["text"] != json.loads(plain.stdout)["text"]
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text('{"profile_prompt": true}')
    assert json.loads(ask(*question).stdout)["profile_prompt"] is True
    assert json.loads(ask(*question, "--no-profile-prompt").stdout)["profile_prompt"] is False
    config_path().write_text('{"profile_prompt": "yes"}')
    bad = ask(*question)
    assert bad.returncode == 1 and '"profile_prompt" must be true or false' in bad.stderr
    assert str(config_path()) in bad.stderr and "Traceback" not in bad.stderr


def test_the_profile_prompt_is_on_by_default_for_other_models(tmp_path, smollm2_path):
    from paso_local.person.profile_prompt import profile_prompt_wanted

    other = tmp_path / "other.gguf"
    other.symlink_to(smollm2_path)  # the same file under another name is still the embedded model
    assert profile_prompt_wanted(None, other) is False
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(b"GGUF")
    assert profile_prompt_wanted(None, copy) is True
    assert profile_prompt_wanted(False, copy) is False and profile_prompt_wanted(True, smollm2_path) is True


def test_asking_for_the_profile_prompt_without_a_profile_says_why_there_is_none():
    done = ask("Hello", "--max-tokens", "2", "--profile-prompt")
    assert done.returncode == 0
    assert "No profile prompt: there is no profile 'default' yet" in done.stderr


def test_ask_without_a_profile_says_what_to_run():
    done = ask("Hello", "--max-tokens", "2")
    assert done.returncode == 0
    assert "paso-local onboard" in done.stderr


def test_a_mismatched_vector_is_an_error_naming_both_models(tmp_path, smollm2_path):
    path = vector(tmp_path / "wide.gguf", n_embd=896)
    done = ask("Hello", "--vector", str(path), "--max-tokens", "2")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: control vector")
    assert "test (llama)" in done.stderr and smollm2_path.name in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["-"], "   \n", "the prompt is empty"),
        (["Hello", "--max-tokens", "0"], None, "--max-tokens must be at least 1"),
        (["Hello", "--model", "/nowhere/model.gguf"], None, "model file /nowhere/model.gguf does not exist"),
    ],
)
def test_bad_input_is_a_one_line_error(args, stdin, message):
    done = ask(*args, stdin=stdin)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


def test_ask_imports_neither_torch_nor_textual():
    script = textwrap.dedent(
        """
        import sys
        from paso_local.cli import main
        assert main(["ask", "Hi", "--max-tokens", "2", "--threads", "1", "--n-ctx", "256"]) == 0
        print("MODULES", "torch" in sys.modules, "textual" in sys.modules)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "MODULES False False" in done.stdout


def test_chat_with_the_real_backend_never_imports_torch():
    """The whole chat path (app, runtime backend, a real reply from SmolLM2) in a fresh interpreter."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from paso_local.llm.modelfiles import resolve_model
        from paso_local.tui.chat.app import ChatApp
        from paso_local.tui.chat.backend import RuntimeBackend, RuntimeOptions

        async def main():
            options = RuntimeOptions(model=str(resolve_model(None)), threads=1, n_ctx=256, max_tokens=3)
            backend = RuntimeBackend(options)
            app = ChatApp(backend)
            async with app.run_test(size=(100, 30)) as pilot:
                for _ in range(500):
                    await pilot.pause(0.02)
                    if app.chat.info is not None:
                        break
                app.chat.prompt.value = "Hello"
                await pilot.press("enter")
                for _ in range(1000):
                    await pilot.pause(0.02)
                    if app.chat.job is None and app.chat.history:
                        break
                print("REPLY", repr(app.chat.history[-1]["content"]))
            app.stop_and_wait()
            backend.close()
            print("MODULES", "torch" in sys.modules)

        asyncio.run(main())
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "REPLY '" in done.stdout and "MODULES False" in done.stdout


def test_the_memory_shows_the_answers_a_question_is_about_and_lists_them():
    answers = {item.number: 1 + item.number % 5 for item in form_items("120")}
    ProfileStore().save(Profile(name="default", answers=answers))
    question = ("Should I go to my colleague's party tonight?", "--json", "--max-tokens", "8", "--no-steer")
    plain, recalled = ask(*question), ask(*question, "--memory")
    assert plain.returncode == recalled.returncode == 0, plain.stderr + recalled.stderr
    used = json.loads(recalled.stdout)["answers_in_use"]
    assert used and all(a["facet"] == "E2" for a in used[:4])  # the party question: Gregariousness first
    assert {"item", "statement", "facet", "answer"} == set(used[0])
    assert json.loads(plain.stdout)["answers_in_use"] is None
    assert json.loads(recalled.stdout)["text"] != json.loads(plain.stdout)["text"]


def test_the_profile_reader_applies_the_shipped_adapter_and_reads_the_memory():
    answers = {item.number: 1 + item.number % 5 for item in form_items("120")}
    ProfileStore().save(Profile(name="default", answers=answers))
    question = ("Should I go to my colleague's party tonight?", "--json", "--max-tokens", "8", "--no-steer")
    memory, reader = ask(*question, "--memory"), ask(*question, "--reader")
    assert memory.returncode == reader.returncode == 0, memory.stderr + reader.stderr
    with_memory, with_reader = json.loads(memory.stdout), json.loads(reader.stdout)
    assert with_memory["profile_reader"] is False and with_memory["adapter"] is None
    assert with_reader["profile_reader"] is True and with_reader["adapter"].endswith(".reader-lora.gguf")
    assert with_reader["answers_in_use"] == with_memory["answers_in_use"]  # the reader turns the memory on
    both = ask(*question, "--reader", "--adapter", with_reader["adapter"])
    assert both.returncode == 1 and "give one of them" in both.stderr and "Traceback" not in both.stderr
