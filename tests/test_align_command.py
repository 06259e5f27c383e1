"""`paso-local align` refusals: each bad input is a clear `Error:` before any long work, and no vector file"""

from __future__ import annotations

import pytest

from paso_local.cli import main
from paso_local.person.inventory import form_items
from paso_local.person.profile import Profile, ProfileStore


def save_profile(name: str, answers: dict[int, int]) -> None:
    ProfileStore().save(Profile(name=name, form="120", answers=answers))


def run(capsys, *args: str) -> tuple[int, str]:
    code = main(["align", *args])
    return code, capsys.readouterr().err


def test_missing_profile(capsys, paso_home):
    code, err = run(capsys, "--profile", "nobody")
    assert code == 1
    assert "no profile named 'nobody'" in err and "paso-local onboard --profile nobody" in err
    assert not list(paso_home.rglob("*.gguf"))


@pytest.mark.model
def test_all_neutral_answers_are_refused_with_the_count_needed(capsys, paso_home, smollm2_path):
    from paso_local.converters.pas import MIN_USABLE_ANSWERS

    numbers = [i.number for i in form_items("120")]
    answers = {n: 3 for n in numbers}
    answers.update({numbers[0]: 5, numbers[1]: 1, numbers[2]: 4})
    save_profile("neutral", answers)
    code, err = run(capsys, "--profile", "neutral", "--model", str(smollm2_path))
    assert code == 1
    assert "has 3 usable answers" in err and f"at least {MIN_USABLE_ANSWERS}" in err
    assert f"Give {MIN_USABLE_ANSWERS - 3} more" in err
    assert "Traceback" not in err
    assert not list(paso_home.rglob("*.gguf"))


def test_corrupt_model_file(capsys, paso_home, tmp_path):
    save_profile("me", {i.number: 5 for i in form_items("120")})
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 40)
    code, err = run(capsys, "--profile", "me", "--model", str(bad))
    assert code == 1 and "broken.gguf" in err and "Traceback" not in err
    code, err = run(capsys, "--profile", "me", "--model", str(tmp_path / "absent.gguf"))
    assert code == 1 and "absent.gguf does not exist" in err
    assert not list(paso_home.rglob("*.gguf"))


@pytest.mark.model
def test_unwritable_output(capsys, paso_home, tmp_path, smollm2_path):
    save_profile("me", {i.number: (5 if i.number % 2 else 1) for i in form_items("120")})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    code, err = run(capsys, "--profile", "me", "--model", str(smollm2_path), "--out", str(blocker / "v.gguf"))
    assert code == 1 and "a-file" in err and "Traceback" not in err
    code, err = run(capsys, "--profile", "me", "--model", str(smollm2_path), "--out", str(tmp_path))
    assert code == 1 and "is a directory" in err


@pytest.mark.model
def test_heads_out_of_range(capsys, paso_home, smollm2_path):
    save_profile("me", {i.number: (5 if i.number % 2 else 1) for i in form_items("120")})
    code, err = run(capsys, "--profile", "me", "--model", str(smollm2_path), "--heads", "0")
    assert code == 1 and "--heads 0" in err


@pytest.mark.model
def test_residual_site_needs_the_letter_contrast(capsys, paso_home, smollm2_path):
    save_profile("me", {i.number: (5 if i.number % 2 else 1) for i in form_items("120")})
    code, err = run(
        capsys,
        "--profile",
        "me",
        "--model",
        str(smollm2_path),
        "--site",
        "residual",
        "--contrast",
        "negation",
    )
    assert code == 1 and "--site residual" in err and "--contrast letter" in err and "Traceback" not in err


@pytest.mark.model
def test_residual_site_writes_a_vector_at_the_blocks_its_folds_chose(
    capsys, paso_home, smollm2_path, tmp_path
):
    """`--site residual` end to end on SmolLM2: the report and the file agree, the directions sit at the blocks
    the cross-validation folds chose (from the checkpoint block on)."""
    import json

    from paso_local.llm.controlvector import read_control_vector

    save_profile("me", {i.number: (5 if i.number % 3 else 1) for i in form_items("120")})
    out, report_path = tmp_path / "v.gguf", tmp_path / "report.json"
    code = main(
        ["align", "--profile", "me", "--model", str(smollm2_path), "--site", "residual"]
        + ["--out", str(out), "--json", str(report_path), "--cv-scoring", "torch"]  # torch: 3x faster here
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(report_path.read_text())
    assert report["site"] == "residual" and report["heads"] == [] and report["vector_kind"] == "residual"
    assert report["residual_blocks"] and all(12 <= b <= 28 for b in report["residual_blocks"])
    assert "residual stream at block" in capsys.readouterr().err
    vector = read_control_vector(out)
    units = {int(b) for b in vector.metadata["unit_directions"]}
    assert sorted(units) == report["residual_blocks"] and len(units) <= 5  # one block per fold at most
    assert vector.metadata["site"] == "residual" and vector.metadata["strength"] == report["strength"]


@pytest.mark.model
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_default_align_end_to_end_on_a_tiny_model_through_llama_cpp(
    capsys, paso_home, tmp_path, papi_dev, arch
):
    """The default align (letter contrast, heads, cross-validation scored through llama.cpp) on a tiny GGUF:
    the file llama.cpp will apply holds the fold mean at the chosen strength, the report says the CV was
    scored by llama.cpp, and the CV's unsteered point is what the scorer gives for the same items."""
    import json

    from tiny_gguf import TinySpec, write_tiny_model

    from paso_local.llm.controlvector import read_control_vector
    from paso_local.person.subjects import load_subjects

    model = write_tiny_model(tmp_path / f"{arch}.gguf", TinySpec(arch=arch, n_layer=6))
    answers = {n: a for n, a in load_subjects(papi_dev)[3].answers.items() if a}
    save_profile("me", answers)
    out, report_path = tmp_path / "v.gguf", tmp_path / "report.json"
    code = main(
        ["align", "--profile", "me", "--model", str(model), "--out", str(out), "--json", str(report_path)]
        + ["--threads", "1", "--heads", "8"]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads(report_path.read_text())
    assert report["cv_scoring"] == "llama" and report["contrast"] == "letter" and report["site"] == "heads"
    assert report["vector_kind"] in ("combined", "domain_sum") and len(report["heads"]) == 8
    vector = read_control_vector(out)
    assert vector.metadata["strength"] == report["strength"]
    assert vector.metadata["cv_aligned_score_base"] == report["cv_aligned_score"]["base"]
    curve = {round(p["strength"], 6): p for p in vector.metadata["cv_curve"]}
    assert 0.0 in curve and curve[0.0]["aligned_score"] == pytest.approx(report["cv_aligned_score"]["base"])
    assert any(s != 0.0 for s in curve)  # strengths were searched
    assert report["cv_search"] == "outward"
    for ladder in ((0.5, 1.2, 2.0), (-0.5, -1.2)):  # outward: each sign stops at its first worse point
        asked = [s for s in ladder if s in curve]
        assert asked == list(ladder[: len(asked)]) and asked
        scores = [curve[0.0]["aligned_score"]] + [curve[s]["aligned_score"] for s in asked]
        assert all(b <= a for a, b in zip(scores[:-2], scores[1:-1], strict=False))
        # the sign stopped at a worse point (rounded to 6 decimals in the file, so possibly equal there; a
        # point whose asking stopped early shows the floor it could still have reached)
        assert len(asked) == len(ladder) or scores[-1] >= scores[-2]
    stages = {row["stage"]: row for row in report["cost"]}
    assert stages["activations"]["evaluations"] == 3 * 120  # A, E and readout prompts, none cached yet
    assert stages["unsteered answers"]["evaluations"] == report["usable_answers"]
    steered = {
        float(name.rsplit(" ", 1)[1]): row
        for name, row in stages.items()
        if name.startswith("cv letter combined")
    }
    for strength, row in steered.items():  # every item, unless asking stopped once the strength could not win
        point = curve[round(strength, 6)]
        assert row["tokens"] > 0
        assert (row["evaluations"] == report["usable_answers"]) == point["complete"]
        assert row["evaluations"] <= report["usable_answers"]
        # SmolLM2's torch model holds every block: each strength is first scored by it on every item
        assert row["torch_screened"] == report["usable_answers"]
    assert sum(row["share"] for row in report["cost"]) == pytest.approx(1.0, abs=0.01)
    assert all(row["tokens"] >= 0 for row in report["cost"]) and stages["final vector"]["tokens"] == 0
    if report["strength"] == 0.0:
        assert "no reliable direction" in capsys.readouterr().err
    assert report["cv_torch_screen"] is True
    # a second align on the same model asks nothing that does not depend on the person; without the torch
    # screen nothing is scored by torch
    assert (
        main(
            ["align", "--profile", "me", "--model", str(model), "--out", str(out), "--json", str(report_path)]
            + ["--threads", "1", "--heads", "8", "--no-torch-screen"]
        )
        == 0
    )
    second = json.loads(report_path.read_text())
    assert second["cv_torch_screen"] is False
    assert all(row["torch_screened"] == 0 for row in second["cost"])
    again = {row["stage"]: row for row in second["cost"]}
    assert again["activations (from the cache)"]["evaluations"] == 0
    assert again["unsteered answers"]["evaluations"] == 0 and again["unsteered answers"]["tokens"] == 0
