"""`paso-local assess` through the CLI on a tiny GGUF: a whole run with every method, resume after an
interruption gives the same table, and bad input is refused with a clear error before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import TWO_CASES
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.assessment.command import Assessment
from paso_local.cli import main
from paso_local.llm.controlvector import ControlVector, write_control_vector

CASES = TWO_CASES
FAST = ["--items", "2", "--max-tokens", "8", "--n-ctx", "2048", "--threads", "1"]


@pytest.fixture(scope="module")
def tiny(tiny_chat_model):
    return tiny_chat_model


@pytest.fixture
def subjects(two_subjects):
    return two_subjects


@pytest.fixture
def vectors(tmp_path):
    directory = tmp_path / "vectors"
    directory.mkdir()
    rng = np.random.default_rng(0)
    for case in CASES:
        directions = {b: rng.standard_normal(64).astype(np.float32) for b in (1, 2)}
        write_control_vector(ControlVector("llama", directions, 64, {}), directory / f"{case}.gguf")
    return directory


def assess(capsys, *argv):
    code = main(["assess", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_of(out: str) -> str:
    """The printed table and its validation caption (the seconds line after it varies between runs)."""
    return "\n".join(line for line in out.splitlines() if not line.startswith("seconds"))


def test_whole_run_with_every_method(tmp_path, capsys, tiny, subjects, vectors):
    out_json = tmp_path / "result.json"
    code, out, err = assess(
        capsys,
        "--subjects", str(subjects), "--model", str(tiny), "--vectors", str(vectors),
        "--vector", f"fixed={vectors / 'a1.gguf'}", "--methods", "base,profile-prompt,pas",
        "--out", str(tmp_path / "run"), "--json", str(out_json), *FAST,
    )  # fmt: skip
    assert code == 0, err
    document = json.loads(out_json.read_text())
    assert list(document["methods"]) == ["base", "profile-prompt", "pas", "fixed"]
    assert document["subjects"] == 2 and document["items"] == 2
    validation = document["validation"]
    assert set(validation) >= {"auc", "gap", "weak", "items"} and validation["items"] == 2
    for row in document["methods"].values():
        assert 1 <= row["judged"] <= 6 and 0 <= row["at_least_4"] <= 1
        assert row["perplexity"] > 0 and row["tokens"] <= 8 and row["n_subjects"] == 2
    if validation["weak"]:  # a random-weight judge: the table must say so
        assert "JUDGE TOO WEAK" in out and "*" in out
    files = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert files == [
        "replies-base.json", "replies-fixed.json", "run.json", "subject-0.json", "subject-1.json",
        "validation.json",
    ]  # fmt: skip
    assert oct((tmp_path / "run" / "subject-0.json").stat().st_mode & 0o777) == "0o600"


def test_resume_after_an_interrupted_run_gives_the_same_table(tmp_path, capsys, tiny, subjects, monkeypatch):
    common = ["--subjects", str(subjects), "--model", str(tiny), "--methods", "base,profile-prompt", *FAST]
    code, fresh, err = assess(capsys, *common, "--out", str(tmp_path / "fresh"))
    assert code == 0, err

    done = []
    original = Assessment.subject

    def interrupted(self, subject, shared):
        if done:
            raise KeyboardInterrupt
        done.append(subject.case)
        return original(self, subject, shared)

    monkeypatch.setattr(Assessment, "subject", interrupted)
    code, _, err = assess(capsys, *common, "--out", str(tmp_path / "cut"))
    assert code == 130 and "Interrupted" in err
    assert (tmp_path / "cut" / "subject-0.json").is_file()
    assert not (tmp_path / "cut" / "subject-1.json").exists()
    monkeypatch.setattr(Assessment, "subject", original)

    code, _, err = assess(capsys, *common, "--out", str(tmp_path / "cut"))
    assert code == 1 and "already holds an assessment" in err and "--resume" in err
    kept = (tmp_path / "cut" / "subject-0.json").stat().st_mtime_ns
    code, resumed, err = assess(capsys, *common, "--out", str(tmp_path / "cut"), "--resume")
    assert code == 0, err
    assert table_of(resumed) == table_of(fresh)
    assert (tmp_path / "cut" / "subject-0.json").stat().st_mtime_ns == kept  # read back, not redone
    assert (tmp_path / "cut" / "subject-1.json").is_file()

    code, _, err = assess(
        capsys, *common[:-2], "--threads", "1", "--items", "3", "--out", str(tmp_path / "cut"), "--resume"
    )
    assert code == 1 and "other settings" in err and "items" in err


def test_a_checkpoint_from_before_the_inverse_test_has_its_validation_redone(
    tmp_path, capsys, tiny, subjects
):
    common = ["--subjects", str(subjects), "--index", "0:1", "--model", str(tiny), "--methods", "base", *FAST]
    code, fresh, err = assess(capsys, *common, "--out", str(tmp_path / "run"))
    assert code == 0, err
    saved = tmp_path / "run" / "validation.json"
    old = json.loads(saved.read_text())
    del old["inverse"]
    saved.write_text(json.dumps(old))
    code, resumed, err = assess(capsys, *common, "--out", str(tmp_path / "run"), "--resume")
    assert code == 0, err
    assert "inverse" in json.loads(saved.read_text()) and "Validating the judge" in err
    assert table_of(resumed) == table_of(fresh)


def test_default_checkpoint_directory_is_per_settings(capsys, tiny, subjects, paso_home):
    common = ["--subjects", str(subjects), "--index", "0:1", "--model", str(tiny), "--methods", "base", *FAST]
    code, first, err = assess(capsys, *common)
    assert code == 0, err
    runs = list((paso_home).rglob("run.json"))
    assert len(runs) == 1 and "assessments" in str(runs[0])
    code, again, err = assess(capsys, *common, "--resume")
    assert code == 0 and table_of(again) == table_of(first)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "give --subjects FILE"),
        (["--index", "0:1"], "give --subjects too"),
        (["@subjects", "--methods", "pas"], "method pas needs the subjects' vectors"),
        (["@subjects", "--methods", "base,nope"], "unknown method 'nope'"),
        (["@subjects", "--items", "0"], "--items 0"),
        (["@subjects", "--items", "181"], "--items 181"),
        (["@subjects", "--max-tokens", "0"], "--max-tokens"),
        (["@subjects", "--vector", "novalue"], "use NAME=PATH"),
        (["@subjects", "--vector", "x=/no/such/file.gguf"], "does not exist"),
        (["@subjects", "--vector", "base=@model"], "is taken"),
        (["@subjects", "--judge", "/no/such/judge.gguf"], "does not exist"),
        (["@subjects", "--profile", "me"], "not both"),
        (["--profile", "nobody"], "nobody"),
    ],
)
def test_bad_input_is_refused_before_any_work(capsys, tiny, subjects, argv, message):
    argv = [a.replace("@model", str(tiny)) for a in argv]
    argv = ["--subjects", str(subjects)] + argv[1:] if argv[:1] == ["@subjects"] else argv
    code, out, err = assess(capsys, "--model", str(tiny), "--methods", "base", *FAST, *argv)
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and message in err, err


def test_a_subject_without_a_vector_is_refused_up_front(tmp_path, capsys, tiny, subjects, vectors):
    (vectors / "b2.gguf").unlink()
    code, _, err = assess(
        capsys, "--subjects", str(subjects), "--model", str(tiny), "--vectors", str(vectors), "--methods", "pas",
        "--out", str(tmp_path / "run"), *FAST,
    )  # fmt: skip
    assert code == 1 and "holds no vector for subject 1 (case b2)" in err
    assert not (tmp_path / "run").exists()


def test_judge_without_chat_template_and_too_small_judge(tmp_path, capsys, tiny, subjects):
    plain = write_tiny_model(tmp_path / "plain.gguf", TinySpec(chat_template=None))
    common = ["--subjects", str(subjects), "--model", str(tiny), "--methods", "base", *FAST]
    code, _, err = assess(capsys, *common, "--judge", str(plain), "--out", str(tmp_path / "a"))
    assert code == 1 and "no chat template" in err
    code, _, err = assess(capsys, *common, "--judge-n-ctx", "512", "--out", str(tmp_path / "b"))
    assert code == 1 and "too long for the judge's 512-token context" in err


def test_a_profile_with_the_300_form_and_its_own_vector(tmp_path, capsys, tiny):
    """--profile: the held-out answers are the profile's own, and pas takes the profile's vector for the
    model, found where `align` writes it (as the chat finds it)."""
    from paso_local.person.profile import Profile, ProfileStore
    from paso_local.person.vector_store import vector_path_for

    ProfileStore().save(Profile(name="me", form="300", answers={n: n % 5 + 1 for n in range(1, 301)}))
    common = ["--profile", "me", "--model", str(tiny), "--methods", "base,pas", *FAST]
    code, _, err = assess(capsys, *common, "--out", str(tmp_path / "none"))
    assert code == 1 and "has no vector for tiny.gguf" in err
    path = vector_path_for("me", tiny)
    path.parent.mkdir(parents=True)
    directions = {1: np.ones(64, dtype=np.float32)}
    write_control_vector(ControlVector("llama", directions, 64, {}), path)
    out_json = tmp_path / "me.json"
    code, out, err = assess(capsys, *common, "--out", str(tmp_path / "me"), "--json", str(out_json))
    assert code == 0, err
    document = json.loads(out_json.read_text())
    assert document["subjects"] == 1 and list(document["methods"]) == ["base", "pas"]


def test_a_120_form_profile_has_nothing_to_judge_against(capsys, tiny):
    from paso_local.person.inventory import form_items
    from paso_local.person.profile import Profile, ProfileStore

    ProfileStore().save(Profile(name="short", form="120", answers={i.number: 3 for i in form_items("120")}))
    code, _, err = assess(capsys, "--profile", "short", "--model", str(tiny), "--methods", "base", *FAST)
    assert code == 1 and "no answers to the held-out statements" in err


def test_a_prompt_that_leaves_no_room_for_a_reply_is_a_counted_skip(tmp_path, capsys, tiny, subjects):
    """The replier's context (512 tokens) cannot hold profile-prompt's system prompt (~700 byte tokens): its
    replies are skipped and counted, and the run goes on (the judge has its own, larger context)."""
    out_json = tmp_path / "skips.json"
    code, out, err = assess(
        capsys, "--subjects", str(subjects), "--index", "0:1", "--model", str(tiny),
        "--methods", "base,profile-prompt", *FAST, "--n-ctx", "512", "--judge-n-ctx", "2048",
        "--out", str(tmp_path / "run"), "--json", str(out_json),
    )  # fmt: skip
    assert code == 0, err
    rows = json.loads(out_json.read_text())["methods"]
    assert rows["profile-prompt"]["skipped"] == {"reply context": 2}
    assert rows["profile-prompt"]["judged"] is None and rows["base"]["judged"] is not None
    assert "reply context 2" in out
