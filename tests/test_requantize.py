"""paso_local.llm.requantize: a model copied once into a type with fast CPU kernels, checked by sha, and the
embedded model's copy giving the shipped file's answers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from paso_local.errors import PasoError
from paso_local.llm import kernel_choice as kc
from paso_local.llm import requantize as rq
from paso_local.llm.gguf_header import check_complete
from paso_local.llm.modelfiles import file_sha256
from paso_local.llm.runtime import prompt_speed


def test_a_copy_is_made_once_recorded_by_sha_and_made_again_when_its_bytes_change(tiny_chat_model):
    made = rq.requantize(tiny_chat_model, "F16")
    assert made.seconds > 0 and made.path.parent == rq.requantized_dir()
    check_complete(made.path)  # a whole GGUF file
    record = json.loads(made.path.with_suffix(".json").read_text())
    assert record["sha256"] == file_sha256(made.path) and record["source_sha256"] == file_sha256(
        tiny_chat_model
    )
    assert oct(made.path.stat().st_mode & 0o777) == "0o600"
    again = rq.requantize(tiny_chat_model, "F16")
    assert again.seconds == 0.0 and again.sha256 == made.sha256
    with open(made.path, "r+b") as handle:  # damaged on disk: never trusted
        handle.seek(made.path.stat().st_size - 8)
        handle.write(b"\xff" * 8)
    os.utime(made.path, ns=(1, 1))  # a new mtime, so the sha cache sees a new file
    remade = rq.requantize(tiny_chat_model, "F16")
    assert remade.seconds > 0 and file_sha256(remade.path) == made.sha256


def test_an_unknown_type_is_refused_with_the_choices(tiny_chat_model):
    with pytest.raises(PasoError, match="choose one of F16, BF16"):
        rq.requantize(tiny_chat_model, "Q3_XS")


def test_the_command_makes_the_copy_and_says_how_to_use_it(tiny_chat_model):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "paso_local",
            "requantize",
            "--model",
            str(tiny_chat_model),
            "--type",
            "F16",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["type"] == "F16" and report["sha256"] == file_sha256(report["copy"])
    bad = subprocess.run(
        [sys.executable, "-m", "paso_local", "requantize", "--model", str(tiny_chat_model), "--threads", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "--threads 0" in bad.stderr and "Traceback" not in bad.stderr


@pytest.mark.model
def test_the_embedded_models_copy_answers_as_the_shipped_file_does(smollm2_path, monkeypatch):
    from paso_local.llm.steered_scoring import SteeredScorer, open_scoring_runtime
    from paso_local.person.inventory import form_items

    items = list(form_items("120"))[:40]
    with open_scoring_runtime(smollm2_path, threads=2) as fast:
        assert fast.info.path == smollm2_path.resolve()  # the model is still the one asked for
        assert fast.info.kernels_path is not None and fast.info.kernels_path != fast.info.path
        copied = SteeredScorer(fast).score(items, None)
    monkeypatch.setenv(kc.FAST_EMBEDDED_ENV, "0")
    with open_scoring_runtime(smollm2_path, threads=2) as shipped:
        assert shipped.info.kernels_path is None
        reference = SteeredScorer(shipped).score(items, None)
    assert np.array_equal(copied.median, reference.median)  # measured: the same median on all 120 items
    assert np.abs(copied.dist - reference.dist).max() < 0.05


@pytest.mark.model
def test_an_unwritable_copy_falls_back_to_the_shipped_file(smollm2_path, monkeypatch, tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv(rq.COPIES_ENV, str(blocked / "models"))
    assert kc.kernel_copy(smollm2_path, 2, prompt_speed) == smollm2_path
