"""`paso-local onboard --import` and `paso-local profile`: good files, bad files, nothing lost."""

import json

import pytest

from paso_local.cli import main
from paso_local.person.inventory import form_items, item
from paso_local.person.profile import ProfileStore
from paso_local.person.scoring import score_answers


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_import_papi_then_profile_json(capsys, papi_dev):
    code, out, err = run(capsys, "onboard", "--import", str(papi_dev), "--index", "0")
    assert code == 0, err
    code, out, err = run(capsys, "profile", "--json")
    assert code == 0
    result = json.loads(out)
    subject = json.loads(papi_dev.read_text())[0]
    # The file stores keyed scores: a domain score is the plain mean of its stored values (no reversal).
    assert result["answered"] == 120 and result["form"] == "120"
    for domain in "ACENO":
        stored = [subject[f"i{i.number}"] for i in form_items("120") if i.domain == domain]
        stored = [v for v in stored if v]
        assert result["domains"][domain] == pytest.approx(sum(stored) / len(stored), abs=1e-4)
    assert set(result["facets"]) == set(score_answers({}, "120").facets)


def test_import_by_case_and_300_form(capsys, papi_dev):
    subject = json.loads(papi_dev.read_text())[3]
    code, _, err = run(
        capsys,
        "onboard",
        "--import",
        str(papi_dev),
        "--case",
        str(subject["case"]),
        "--form",
        "300",
        "--profile",
        "p300",
    )
    assert code == 0, err
    profile = ProfileStore().load("p300")
    assert profile.form == "300"
    stored = {n: subject[f"i{n}"] for n in range(1, 301) if subject[f"i{n}"]}
    assert profile.answers == {n: v if item(n).plus_keyed else 6 - v for n, v in stored.items()}


def test_import_csv(tmp_path, capsys):
    rows = ["item,answer"] + [f"{i.number},{(i.number % 5) + 1}" for i in form_items("120")]
    rows[5] = rows[5].split(",")[0] + ","  # one missing answer
    path = tmp_path / "answers.csv"
    path.write_text("\n".join(rows) + "\n")
    code, _, err = run(capsys, "onboard", "--import", str(path))
    assert code == 0, err
    profile = ProfileStore().load("default")
    assert len(profile.answers) == 119 and len(profile.skipped) == 1


def _papi_record(**overrides):
    record = {"case": 7, **{f"i{n}": 3 for n in range(1, 301)}}
    record.update(overrides)
    return record


@pytest.mark.parametrize(
    "records, expected",
    [
        ([_papi_record(i4=7)], "record 0 (case 7), field 'i4': 7 is outside 0..5"),
        ([_papi_record(i4="x")], "field 'i4': 'x' is not an answer"),
        ([{k: v for k, v in _papi_record().items() if k != "i2"}], "field 'i2' is missing"),
        ([_papi_record(i1=True)], "field 'i1'"),
        ({"not": "a list"}, "expected a non-empty JSON list"),
        ([_papi_record(), "oops"], "holds 2 subjects"),
    ],
)
def test_bad_json_refused_and_profile_untouched(tmp_path, capsys, papi_dev, records, expected):
    assert run(capsys, "onboard", "--import", str(papi_dev), "--index", "1")[0] == 0
    before = ProfileStore().path("default").read_bytes()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(records))
    code, out, err = run(capsys, "onboard", "--import", str(bad), "--replace")
    assert code == 1
    assert err.startswith("Error: ") and expected in err and "Traceback" not in err
    assert ProfileStore().path("default").read_bytes() == before


@pytest.mark.parametrize(
    "content, expected",
    [
        ("item,answer\n1,6\n", "line 2, answer to item 1: 6 is outside 0..5"),
        ("item,answer\n301,3\n", "line 2: item '301' is not an item number"),
        ("1,3\n1,4\n", "line 2: item 1 appears twice"),
        ("1,3,4\n", "expected two columns"),
        ("", "holds no answers"),
    ],
)
def test_bad_csv_refused(tmp_path, capsys, content, expected):
    path = tmp_path / "a.csv"
    path.write_text(content)
    code, _, err = run(capsys, "onboard", "--import", str(path))
    assert code == 1 and expected in err
    assert not ProfileStore().exists("default")


def test_import_refuses_to_replace_without_flag(capsys, papi_dev):
    assert run(capsys, "onboard", "--import", str(papi_dev), "--index", "0")[0] == 0
    code, _, err = run(capsys, "onboard", "--import", str(papi_dev), "--index", "1")
    assert code == 1 and "--replace" in err
    assert run(capsys, "onboard", "--import", str(papi_dev), "--index", "1", "--replace")[0] == 0


def test_index_out_of_range_and_unknown_case(capsys, papi_dev):
    code, _, err = run(capsys, "onboard", "--import", str(papi_dev), "--index", "999")
    assert code == 1 and "out of range" in err
    code, _, err = run(capsys, "onboard", "--import", str(papi_dev), "--case", "nope")
    assert code == 1 and "no record has case 'nope'" in err


def test_profile_table_and_missing_profile(capsys, papi_dev):
    code, _, err = run(capsys, "profile")
    assert code == 1 and "paso-local onboard" in err
    run(capsys, "onboard", "--import", str(papi_dev), "--index", "0")
    code, out, _ = run(capsys, "profile")
    assert code == 0 and "Agreeableness" in out and "A1 Trust" in out
