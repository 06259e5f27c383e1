"""`paso-local eval` through the CLI: bad subjects files refused by name, and one real run on SmolLM2."""

import json

import pytest

from paso_local.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write_subjects(tmp_path, records):
    path = tmp_path / "subjects.json"
    path.write_text(json.dumps(records))
    return path


def good_record(case):
    return {"case": case, **{f"i{n}": (n % 5) + 1 for n in range(1, 301)}}


def test_missing_item_is_refused_naming_subject_and_item(tmp_path, capsys):
    bad = good_record(222)
    del bad["i57"]
    path = write_subjects(tmp_path, [good_record(111), bad])
    code, out, err = run(capsys, "eval", "--subjects", str(path), "--methods", "base")
    assert code == 1 and out == ""
    assert err.startswith("Error: ") and "record 1 (case 222)" in err and "'i57'" in err


@pytest.mark.parametrize("value", [6, -1, "x"])
def test_out_of_range_answer_is_refused_naming_subject_and_item(tmp_path, capsys, value):
    bad = good_record(333)
    bad["i12"] = value
    path = write_subjects(tmp_path, [bad])
    code, _, err = run(capsys, "eval", "--subjects", str(path))
    assert code == 1 and err.startswith("Error: ")
    assert "case 333" in err and "'i12'" in err and "Traceback" not in err


def test_bad_options_are_refused(tmp_path, capsys):
    path = write_subjects(tmp_path, [good_record(1), good_record(2)])
    for argv, message in [
        (["--index", "0:5"], "--index 0:5"),
        (["--cases", "9"], "no subject has case 9"),
        (["--methods", "base,sft"], "unknown method sft"),
        (["--index", "0:1", "--cases", "1"], "not both"),
        (["--model", str(tmp_path / "none.gguf")], "does not exist"),
    ]:
        code, _, err = run(capsys, "eval", "--subjects", str(path), *argv)
        assert code == 1 and message in err, (argv, err)


@pytest.mark.model
@pytest.mark.slow
def test_eval_base_on_smollm2_end_to_end(tmp_path, capsys, papi_dev, smollm2_path):
    out_file = tmp_path / "eval.json"
    code, out, err = run(
        capsys,
        "eval",
        "--subjects",
        str(papi_dev),
        "--index",
        "0:2",
        "--methods",
        "base",
        "--json",
        str(out_file),
        "--threads",
        "1",
    )
    assert code == 0, err
    assert "Aligned Score" in out and "base" in out
    doc = json.loads(out_file.read_text())
    assert set(doc) >= {"methods", "references", "published", "per_subject", "readout", "model"}
    keys = {"A", "C", "E", "N", "O", "sum", "correlation", "n_subjects", "seconds_per_subject"}
    assert set(doc["methods"]) == {"base"} and keys <= set(doc["methods"]["base"])
    assert doc["methods"]["base"]["n_subjects"] == 2 and doc["readout"] == "distribution"
    references = {"answer-C", "acquiescence-only", "population-mean-LOO", "trait-model", "ridge-LOO"}
    assert set(doc["references"]) == references
    for row in doc["references"].values():
        assert keys <= set(row) and row["n_subjects"] == 2
    assert doc["orientation"] == "keyed" and "chose" in doc["targets"]
    assert doc["references"]["trait-model"]["other_person"]["n_subjects"] == 2
    assert "other_person" not in doc["methods"]["base"]  # nothing personal: no control
    assert doc["methods"]["base"]["paper_protocol"]["sum"] > 0
    assert doc["published"]["PAS, Llama-3-8B-Instruct"]["sum"] == 4.41
    base = [r for r in doc["per_subject"] if r["method"] == "base"]
    assert [r["index"] for r in base] == [0, 1]
    assert base[0]["answers"] == base[1]["answers"]  # nothing personal: the same answers for every subject
    assert len(base[0]["answers"]) == 180 and all(a in (1, 2, 3, 4, 5) for a in base[0]["answers"])
    summed = sum(doc["methods"]["base"][d] for d in "ACENO")
    assert doc["methods"]["base"]["sum"] == pytest.approx(summed, abs=1e-3)


def test_eval_methods_none_gives_the_references_without_a_model(synthetic_keyed, tmp_path, capsys):
    out_file = tmp_path / "refs.json"
    argv = [
        "--methods",
        "none",
        "--index",
        "0:10",
        "--json",
        str(out_file),
        "--model",
        str(tmp_path / "x.gguf"),
    ]
    code, out, err = run(capsys, "eval", "--subjects", str(synthetic_keyed), *argv)
    assert code == 0, err  # the missing model file is never opened
    doc = json.loads(out_file.read_text())
    assert doc["methods"] == {} and doc["references"]["trait-model"]["n_subjects"] == 10
    assert doc["references"]["trait-model"]["sum"] < doc["references"]["answer-C"]["sum"]
    assert "trait-model" in out


def test_a_k_below_one_is_refused_by_the_parser(tmp_path, capsys):
    path = write_subjects(tmp_path, [good_record(1), good_record(2)])
    with pytest.raises(SystemExit) as stopped:
        main(["eval", "--subjects", str(path), "--methods", "retrieval", "--k", "0"])
    assert stopped.value.code == 2
    assert "not a whole number of 1 or more" in capsys.readouterr().err
