"""What each assessed method gives the model: a system prompt and, for vector methods, a control vector.

- `base`: the paper's system prompt, nothing personal (its replies are written once for every subject).
- `profile-prompt`: the person's Big Five scores from their 120 answers in the system prompt
  (paso_local.person.profile_prompt, exactly eval's).
- `pas`: the paper's system prompt, steered by the person's existing vector file (from `paso-local align`;
  assess never aligns): `--vectors DIR` holds one per subject, or, for `--profile`, the profile's vector for
  the model, found as `paso-local chat` finds it.
- any `--vector NAME=PATH`: the paper's system prompt steered by PATH, a vector file for every subject (not
  personal) or a directory of per-subject files.
- `memory`: the paper's system prompt and, as the chat adds them, the person's answers on the facets the
  question is about (paso_local.person.recall: matched from the question's text, a list).
- `reader`: `memory` with the model's profile reader applied (`--reader FILE`, else the model's own), exactly
  what `chat --reader` does.

A per-subject directory holds `<case>.gguf` or `subject-<index>.gguf` for each subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.evaluation.split import SplitSubject
from paso_local.person.profile_prompt import profile_prompt
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT

BUILT_IN = ("base", "profile-prompt", "pas", "memory", "reader")


@dataclass(frozen=True)
class VectorSource:
    """Where a vector method's vector comes from: one file for everyone, or a directory per subject."""

    path: Path

    @property
    def per_subject(self) -> bool:
        return self.path.is_dir()

    def for_subject(self, subject: SplitSubject) -> Path:
        if not self.per_subject:
            return self.path
        for name in (f"{subject.case}.gguf", f"subject-{subject.index}.gguf"):
            if (self.path / name).is_file():
                return self.path / name
        raise PasoError(
            f"{self.path} holds no vector for subject {subject.index} (case {subject.case}): expected "
            f"{subject.case}.gguf or subject-{subject.index}.gguf there"
        )

    def files(self, subjects: Sequence[SplitSubject]) -> list[Path]:
        """Every vector file these subjects are steered by (each once)."""
        if not self.per_subject:
            return [self.path]
        return list(dict.fromkeys(self.for_subject(subject) for subject in subjects))


@dataclass(frozen=True)
class AssessMethod:
    name: str
    system_prompt: Callable[[Mapping[int, int]], str]  # the subject's 120 answers -> system prompt
    vector: VectorSource | None = None
    recall: bool = False  # the chat's answer memory joins the system prompt, per question
    adapter: Path | None = None  # a LoRA applied while the method writes (the profile reader)

    @property
    def personal(self) -> bool:
        """Depends on the subject (False: its replies are written once and judged against each person)."""
        per_subject_vector = self.vector is not None and self.vector.per_subject
        return self.name == "profile-prompt" or self.recall or per_subject_vector

    def system_prompts(self, answers: Mapping[int, int], questions: Sequence[str]) -> list[str]:
        """The system prompt for each question: with `recall`, the person's answers that bear on it are
        added as the chat adds them."""
        prompt = self.system_prompt(answers)
        if not self.recall:
            return [prompt] * len(questions)
        from paso_local.person.answer_memory import AnswerMemory
        from paso_local.person.recall import recall_for, with_recall

        memory = AnswerMemory.from_answers(answers)  # unanswered items (0) are left out
        system = [{"role": "system", "content": prompt}]
        return [with_recall(system, recall_for(memory, q))[0]["content"] for q in questions]

    def describe(self) -> dict:
        out = {"name": self.name, "vector": str(self.vector.path) if self.vector else None}
        if self.recall:  # only when set, so the checkpoints of runs from before keep their settings key
            out["recall"] = True
        if self.adapter is not None:
            out["adapter"] = str(self.adapter)
        return out


def _paper_prompt(_answers: Mapping[int, int]) -> str:
    return SYSTEM_PROMPT


def parse_vector_options(options: list[str] | None) -> dict[str, Path]:
    """`--vector NAME=PATH` (repeatable) -> {NAME: PATH}."""
    out: dict[str, Path] = {}
    for text in options or []:
        name, sep, path = text.partition("=")
        name = name.strip()
        if not sep or not name or not path.strip():
            raise PasoError(f"--vector {text!r}: use NAME=PATH (a vector file, or a directory per subject)")
        if name in BUILT_IN or name in out:
            raise PasoError(f"--vector {text!r}: the name {name!r} is taken; choose another")
        target = Path(path.strip()).expanduser()
        if not target.exists():
            raise PasoError(f"--vector {name}: {target} does not exist")
        out[name] = target
    return out


def build_methods(
    names_text: str,
    *,
    vectors_dir: Path | None,
    extra: Mapping[str, Path],
    profile_vector: Path | None,
    reader: Callable[[], Path] | None = None,
) -> list[AssessMethod]:
    """`--methods a,b,...` in the order given. `pas` takes `profile_vector` (a --profile run) or
    `vectors_dir`; `reader` finds the profile reader (called only when the method is asked for); the names of
    `extra` (from --vector) may be listed, and are added when not."""
    names = [n.strip() for n in (names_text or "").split(",") if n.strip()]
    names += [n for n in extra if n not in names]
    if not names:
        raise PasoError(f"--methods: name at least one of {', '.join([*BUILT_IN, *extra])}")
    methods = []
    for name in dict.fromkeys(names):
        if name == "base":
            methods.append(AssessMethod("base", _paper_prompt))
        elif name == "profile-prompt":
            methods.append(AssessMethod("profile-prompt", profile_prompt))
        elif name == "pas":
            source = profile_vector or vectors_dir
            if source is None:
                raise PasoError(
                    "method pas needs the subjects' vectors: give --vectors DIR (one <case>.gguf or "
                    "subject-<index>.gguf per subject, from `paso-local align`), or leave pas out of --methods"
                )
            if vectors_dir is not None and not vectors_dir.is_dir():
                raise PasoError(f"--vectors {vectors_dir} is not a directory")
            methods.append(AssessMethod("pas", _paper_prompt, VectorSource(source)))
        elif name == "memory":
            methods.append(AssessMethod("memory", _paper_prompt, recall=True))
        elif name == "reader":
            if reader is None:
                raise PasoError("method reader needs the model's profile reader; give --reader FILE")
            methods.append(AssessMethod("reader", _paper_prompt, recall=True, adapter=reader()))
        elif name in extra:
            methods.append(AssessMethod(name, _paper_prompt, VectorSource(extra[name])))
        else:
            known = ", ".join([*BUILT_IN, *extra])
            raise PasoError(
                f"--methods: unknown method {name!r}; choose from {known} (or add --vector {name}=PATH)"
            )
    return methods
