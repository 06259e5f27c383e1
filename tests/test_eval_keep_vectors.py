"""`paso-local eval --keep-vectors DIR`: each subject's aligned vector is kept where `paso-local assess
--vectors` finds it (owner-only, the aligner's bytes), and a bad directory is refused before any model work."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from paso_local.cli import main
from paso_local.cli_parser import build_parser
from paso_local.evaluation.command import run_eval
from paso_local.llm.controlvector import ControlVector, write_control_vector


class SeededAligner:
    """Writes a seeded vector per subject (no torch), recording what it wrote."""

    def __init__(self):
        self.written: dict[str, bytes] = {}

    def align_to_file(self, request, out: Path, name: str, contrast, site):
        rng = np.random.default_rng(len(self.written))
        directions = {b: rng.standard_normal(64).astype(np.float32) * 0.1 for b in (1, 2)}
        write_control_vector(ControlVector("llama", directions, 64, {}), out)
        self.written[name] = out.read_bytes()
        return out, {"strength": 1.0, "vector_kind": "seeded", "contrast": contrast, "site": site}


def eval_args(*argv: str):
    return build_parser(defaultdict(lambda: lambda _args: 0)).parse_args(["eval", *argv])


def test_kept_vectors_are_the_aligned_files_and_assess_reads_them(
    tmp_path, capsys, tiny_chat_model, two_subjects
):
    tiny, subjects = tiny_chat_model, two_subjects
    kept = tmp_path / "kept"
    aligner = SeededAligner()
    args = eval_args(
        "--subjects", str(subjects), "--model", str(tiny), "--methods", "pas", "--threads", "1",
        "--keep-vectors", str(kept),
    )  # fmt: skip
    assert run_eval(args, aligner=aligner) == 0
    folder = kept / "letter-heads"
    assert sorted(p.name for p in folder.iterdir()) == ["subject-0.gguf", "subject-1.gguf"]
    assert folder.joinpath("subject-0.gguf").read_bytes() == aligner.written["eval-case-a1"]
    assert folder.joinpath("subject-1.gguf").read_bytes() == aligner.written["eval-case-b2"]
    assert oct(folder.joinpath("subject-1.gguf").stat().st_mode & 0o777) == "0o600"
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    capsys.readouterr()

    code = main([
        "assess", "--subjects", str(subjects), "--model", str(tiny), "--methods", "pas", "--vectors", str(folder),
        "--items", "1", "--max-tokens", "4", "--n-ctx", "2048", "--threads", "1", "--out", str(tmp_path / "run"),
    ])  # fmt: skip
    assert code == 0, capsys.readouterr().err


def test_a_file_as_the_directory_is_refused_before_any_model_work(tmp_path, capsys, two_subjects):
    subjects = two_subjects
    a_file = tmp_path / "taken"
    a_file.write_text("x")
    code = main(["eval", "--subjects", str(subjects), "--methods", "pas", "--keep-vectors", str(a_file)])
    err = capsys.readouterr().err
    assert code == 1 and "--keep-vectors" in err and "is a file" in err and "Traceback" not in err
