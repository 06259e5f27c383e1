"""paso_local.llm.kernel_choice: the copy type chosen by timing on this CPU once, recorded, and measured again
only for another CPU or source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from paso_local.llm import kernel_choice as kc
from paso_local.llm import requantize as rq
from paso_local.llm.modelfiles import file_sha256
from paso_local.llm.runtime import prompt_speed


@pytest.fixture
def own_copies(tmp_path, monkeypatch):
    """A copies directory of this test's own (the session's is shared, and may hold a recorded choice)."""
    monkeypatch.setenv("PASO_LOCAL_MODEL_COPIES", str(tmp_path / "copies"))


class FixedSpeeds:
    """A speed meter that reads `speeds` by the copy's type, and keeps the types it timed, in order."""

    def __init__(self, speeds: dict[str, float]):
        self.speeds, self.timed = speeds, []

    def __call__(self, path, threads):
        name = path.name.split(".")[1]
        self.timed.append(name)
        return self.speeds[name]


def test_the_first_candidate_wins_unless_a_later_one_is_clearly_faster():
    assert kc.faster_type({"F16": 400.0, "BF16": 428.0}) == "BF16"  # 7% faster
    assert kc.faster_type({"F16": 400.0, "BF16": 410.0}) == "F16"  # 2.5%: within timing noise
    assert kc.faster_type({"F16": 453.0, "BF16": 402.0}) == "F16"
    # F32 doubles the copy: 7% faster is not enough, 12% is; it is compared with the one chosen before it
    assert kc.faster_type({"F16": 400.0, "BF16": 380.0, "F32": 428.0}) == "F16"
    assert kc.faster_type({"F16": 400.0, "BF16": 380.0, "F32": 448.0}) == "F32"
    assert kc.faster_type({"F16": 400.0, "BF16": 428.0, "F32": 448.0}) == "BF16"
    assert kc.faster_type({"F16": 400.0, "BF16": 380.0}) == "F16"  # F32 not timed (a large model)


def test_the_faster_copy_is_kept_the_other_deleted_and_the_choice_recorded(
    tiny_chat_model, monkeypatch, own_copies
):
    speeds = {"F16": 300.0, "BF16": 450.0, "F32": 460.0}
    meter = FixedSpeeds(speeds)
    choice = kc.fastest_copy(tiny_chat_model, None, meter)
    timed = ["F16", "BF16", "F32"] * kc.TIMING_ROUNDS  # in turn, each round
    assert meter.timed == timed and choice.copy.type_name == "BF16" and choice.seconds > 0
    assert choice.copy.path.is_file() and file_sha256(choice.copy.path) == choice.copy.sha256
    source_sha = file_sha256(tiny_chat_model)
    for other in ("F16", "F32"):
        assert not rq.copy_path(source_sha, other).exists()
        assert not rq.copy_path(source_sha, other).with_suffix(".json").exists()
    record = json.loads(kc.choice_path(source_sha).read_text())
    assert record["type"] == "BF16" and record["tokens_per_second"] == speeds
    assert record["cpu"] == kc.cpu_identity() and record["version"] == kc.CHOICE_VERSION
    assert oct(kc.choice_path(source_sha).stat().st_mode & 0o777) == "0o600"

    again = kc.fastest_copy(tiny_chat_model, None, meter)  # recorded: nothing timed, nothing made
    assert meter.timed == timed and again.seconds == 0.0 and again.copy.path == choice.copy.path
    assert again.copy.seconds == 0.0


def test_another_cpu_or_a_damaged_record_is_measured_again(tiny_chat_model, monkeypatch, own_copies):
    meter = FixedSpeeds({"F16": 450.0, "BF16": 300.0, "F32": 470.0})
    kc.fastest_copy(tiny_chat_model, None, meter)
    monkeypatch.setattr(kc, "cpu_identity", lambda: "another CPU [000000000000]")
    per_choice = 3 * kc.TIMING_ROUNDS
    assert kc.fastest_copy(tiny_chat_model, None, meter).copy.type_name == "F16"
    assert len(meter.timed) == 2 * per_choice
    kc.choice_path(file_sha256(tiny_chat_model)).write_text("{not json")
    assert kc.fastest_copy(tiny_chat_model, None, meter).seconds > 0 and len(meter.timed) == 3 * per_choice


def test_f32_is_not_made_for_a_model_whose_f32_copy_would_be_large(tiny_chat_model, monkeypatch, own_copies):
    monkeypatch.setattr(kc, "F32_MAX_BYTES", 1024)  # the tiny model's F32 copy is larger than that
    meter = FixedSpeeds({"F16": 300.0, "BF16": 305.0, "F32": 900.0})
    choice = kc.fastest_copy(tiny_chat_model, None, meter)
    assert meter.timed == ["F16", "BF16"] * kc.TIMING_ROUNDS and choice.copy.type_name == "F16"
    assert not rq.copy_path(file_sha256(tiny_chat_model), "F32").exists()


def test_a_real_timing_reads_a_positive_speed(tiny_chat_model):
    assert prompt_speed(tiny_chat_model, threads=1) > 0


def test_another_model_is_never_copied_behind_the_users_back(tiny_chat_model):
    assert kc.kernel_copy(tiny_chat_model, 1, prompt_speed) == tiny_chat_model


def test_the_command_without_a_type_times_every_candidate_and_says_so(tiny_chat_model, own_copies):
    done = subprocess.run(
        [sys.executable, "-m", "paso_local", "requantize", "--model", str(tiny_chat_model), "--json"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report["tokens_per_second"]) == set(kc.CANDIDATES)  # the test model's F32 copy is small
    assert report["type"] in kc.CANDIDATES and report["sha256"] == file_sha256(report["copy"])


@pytest.mark.model
def test_the_embedded_models_first_use_times_every_candidate(smollm2_path, own_copies):
    choice = kc.fastest_copy(smollm2_path, 2, prompt_speed)
    assert set(choice.tokens_per_second) == set(kc.CANDIDATES)
    assert all(rate > 10 for rate in choice.tokens_per_second.values())
    assert (
        kc.kernel_copy(smollm2_path, 2, prompt_speed) == choice.copy.path
    )  # the runtime loads the recorded choice
