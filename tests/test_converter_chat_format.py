"""paso_local.llm.chat_format: the model's own template, tokenised by llama.cpp as create_chat_completion does."""

from __future__ import annotations

import sys

import pytest
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.errors import PasoError
from paso_local.llm.chat_format import ChatFormat, open_vocab

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi the cat"}]


@pytest.fixture
def tiny(tmp_path):
    return ChatFormat.from_model(write_tiny_model(tmp_path / "tiny.gguf", TinySpec()))


def test_template_from_the_gguf_is_rendered_and_tokenised(tiny):
    assert tiny.has_template
    text = tiny.render(MESSAGES)
    assert (
        text == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi the cat<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tiny.render(MESSAGES, add_generation_prompt=False).endswith("hi the cat<|im_end|>\n")
    tokens = tiny.encode_chat(MESSAGES, assistant_prefix="I")
    im_start, im_end = 262, 263
    assert tokens[0] == im_start and tokens.count(im_start) == 3 and tokens.count(im_end) == 2  # special=True
    assert tokens == tiny.tokenize(text + "I")
    assert 258 in tokens  # the merge "Ġthe" applied by llama.cpp's BPE
    assert tiny.detokenize(tokens, special=True) == text + "I"
    assert tiny.detokenize(tokens) == text.replace("<|im_start|>", "").replace("<|im_end|>", "") + "I"
    assert tiny.token_to_piece(im_end) == "<|im_end|>"
    assert (tiny.n_vocab, tiny.eos_token_id, tiny.bos_token_id) == (264, 263, 261)


def test_same_tokens_as_llama_cpp_pythons_chat_completion(tmp_path):
    """create_chat_completion: Jinja2ChatFormatter, then tokenize(add_bos=not added_special, special=True)."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    path = write_tiny_model(tmp_path / "tiny.gguf", TinySpec())
    llm = open_vocab(path)
    handler_prompt = Jinja2ChatFormatter(
        template=llm.metadata["tokenizer.chat_template"], eos_token="<|im_end|>", bos_token="<|endoftext|>"
    )(messages=MESSAGES)
    expected = llm.tokenize(
        handler_prompt.prompt.encode(), add_bos=not handler_prompt.added_special, special=True
    )
    assert ChatFormat.from_llama(llm).encode_chat(MESSAGES) == expected


def test_model_without_template_falls_back_to_role_lines(tmp_path):
    chat = ChatFormat.from_model(write_tiny_model(tmp_path / "base.gguf", TinySpec(chat_template=None)))
    assert not chat.has_template
    assert chat.render([{"role": "user", "content": "hi"}]) == "user: hi\nassistant: "


def test_bad_messages_and_files_are_paso_errors(tiny, tmp_path):
    for bad in ([], [{"role": "user"}], [{"content": "x"}], "hello"):
        with pytest.raises(PasoError):
            tiny.render(bad)
    with pytest.raises(PasoError, match="does not exist"):
        open_vocab(tmp_path / "absent.gguf")
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 40)
    with pytest.raises(PasoError):
        open_vocab(junk)


def test_chat_format_does_not_import_torch():
    import subprocess

    code = "import paso_local.llm.chat_format, sys; print('torch' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    )


@pytest.mark.model
def test_smollm2_chatml(smollm2_path):
    chat = ChatFormat.from_model(smollm2_path)
    text = chat.render([{"role": "user", "content": "Hello"}])
    assert text.startswith("<|im_start|>system\n") and text.endswith(
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )
    tokens = chat.encode_chat([{"role": "user", "content": "Hello"}])
    assert tokens[0] == 1 and tokens[-4:] == chat.tokenize("<|im_start|>assistant\n")


def test_the_vocabulary_load_keeps_llama_cpps_warnings_off_the_terminal(tmp_path):
    """A vocab-only load has n_ctx_train 0, and llama.cpp warns about it on stderr (through llama-cpp-python's
    log callback, a print to the process's stderr): a subprocess, so the real descriptor 2 is what is read."""
    import os
    import subprocess

    path = write_tiny_model(tmp_path / "tiny.gguf", TinySpec())
    code = f"from paso_local.llm.chat_format import open_vocab; open_vocab({str(path)!r})"
    env = {k: v for k, v in os.environ.items() if k != "PASO_LOCAL_VERBOSE"}
    quiet = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""
    verbose = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PASO_LOCAL_VERBOSE": "1"}, capture_output=True, text=True
    )
    assert "n_ctx_train" in verbose.stderr  # --verbose shows them
