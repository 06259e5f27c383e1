"""Chat formatting and tokenisation through llama.cpp itself, for the converter and the runtime alike.

llama.cpp is the one tokenizer: a vocab-only `Llama` over the very GGUF file the person chats with, and the
chat template stored in that file rendered by llama-cpp-python's own `Jinja2ChatFormatter` (the code path
`create_chat_completion` takes). So the torch converter sees exactly the tokens the runtime feeds llama.cpp.
No torch here: the chat runtime imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from paso_local.errors import PasoError

TEMPLATE_KEY = "tokenizer.chat_template"

# Used when the GGUF holds no chat template (base models): "role: content" lines, then "assistant: ".
PLAIN_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant: {% endif %}"
)


def open_vocab(path: str | Path) -> Any:
    """A vocab-only `llama_cpp.Llama` (tokenizer and metadata, no weights) for a GGUF model file."""
    import llama_cpp

    path = Path(path)
    if not path.is_file():
        raise PasoError(f"model file {path} does not exist; give the path of a .gguf file")
    from paso_local.llm.llama_native import native_stderr_hidden

    try:
        with native_stderr_hidden():  # llama.cpp warns "n_ctx_seq (512) > n_ctx_train (0)" on fd 2 here too
            return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise PasoError(
            f"llama.cpp cannot read the vocabulary of {path} ({exc}); is it a complete GGUF model file?"
        ) from exc


class ChatFormat:
    """Renders chats with the model's own template and tokenises them exactly as llama-cpp-python does."""

    def __init__(self, llm: Any, template: str | None):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self._llm = llm
        self.has_template = bool(template)
        self.template = template if template else PLAIN_TEMPLATE
        self.bos_token = _token_text(llm, llm.token_bos())
        self.eos_token = _token_text(llm, llm.token_eos())
        try:
            self._formatters = {
                flag: Jinja2ChatFormatter(
                    template=self.template,
                    eos_token=self.eos_token,
                    bos_token=self.bos_token,
                    add_generation_prompt=flag,
                    stop_token_ids=[llm.token_eos()],
                )
                for flag in (True, False)
            }
        except Exception as exc:  # jinja2.TemplateSyntaxError and friends
            raise PasoError(f"the model's chat template ({TEMPLATE_KEY}) does not parse: {exc}") from exc

    @classmethod
    def from_llama(cls, llm: Any) -> ChatFormat:
        """From an open `Llama` (vocab-only or full): template from its metadata, bos/eos from its vocab."""
        return cls(llm, llm.metadata.get(TEMPLATE_KEY))

    @classmethod
    def from_model(cls, path: str | Path) -> ChatFormat:
        """Opens a vocab-only `Llama` on the GGUF file."""
        return cls.from_llama(open_vocab(path))

    @property
    def llama(self) -> Any:
        return self._llm

    @property
    def n_vocab(self) -> int:
        return int(self._llm.n_vocab())

    @property
    def eos_token_id(self) -> int:
        return int(self._llm.token_eos())

    @property
    def bos_token_id(self) -> int | None:
        """None when the vocabulary has no BOS token."""
        token = int(self._llm.token_bos())
        return None if token < 0 else token

    def render(self, messages: list[dict], *, add_generation_prompt: bool = True) -> str:
        """The prompt text for `messages` ([{"role": ..., "content": ...}, ...])."""
        _check_messages(messages)
        try:
            return self._formatters[bool(add_generation_prompt)](messages=messages).prompt
        except Exception as exc:  # the template's raise_exception() gives ValueError; jinja2 errors otherwise
            raise PasoError(f"the model's chat template cannot format these messages: {exc}") from exc

    def tokenize(self, text: str) -> list[int]:
        """Tokens of a rendered prompt, as `create_chat_completion` makes them: special tokens parsed, and a
        BOS added by llama.cpp only for the plain fallback (a template writes its own `bos_token`)."""
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=not self.has_template, special=True))

    def encode_chat(
        self, messages: list[dict], *, add_generation_prompt: bool = True, assistant_prefix: str = ""
    ) -> list[int]:
        """render + `assistant_prefix` (the start of the answer, e.g. "I would rate it ") + tokenize."""
        return self.tokenize(
            self.render(messages, add_generation_prompt=add_generation_prompt) + assistant_prefix
        )

    def token_to_piece(self, token: int, *, special: bool = True) -> str:
        return self._llm.detokenize([int(token)], special=special).decode("utf-8", errors="replace")

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        return self._llm.detokenize([int(t) for t in tokens], special=special).decode(
            "utf-8", errors="replace"
        )

    def close(self) -> None:
        self._llm.close()


def _token_text(llm: Any, token: int) -> str:
    """The same bos/eos strings llama-cpp-python hands its own chat formatter."""
    from paso_local.llm.llama_native import token_text

    return token_text(llm.model, token)


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise PasoError("a chat needs a non-empty list of messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise PasoError(f"chat message {index} needs a string 'role' (got {message!r:.80})")
        if not isinstance(message.get("content"), str):
            raise PasoError(f"chat message {index} ({message['role']}) needs string 'content'")
