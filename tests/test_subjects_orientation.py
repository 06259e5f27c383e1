"""Reading subjects files in either orientation: keyed scores (the published PAPI files) or chosen options.

The population check refuses a file whose +/- keyed correlation contradicts the stated orientation; a person
imported from a keyed file and from its chosen twin gets the same profile, the one an independent scorer gives.
"""

from __future__ import annotations

import json

import pytest
from synthetic_papi import chosen_population, write_population

from paso_local.errors import PasoError
from paso_local.person.inventory import form_items, item
from paso_local.person.onboarding import import_answers
from paso_local.person.subjects import (
    flip_minus_keyed,
    key_agreement,
    load_answer_csv,
    load_subjects,
    select_subject,
)


def test_flip_is_its_own_inverse_and_keeps_missing():
    minus = next(i.number for i in form_items("300") if not i.plus_keyed)
    plus = next(i.number for i in form_items("300") if i.plus_keyed)
    answers = {minus: 1, plus: 2}
    assert flip_minus_keyed(answers) == {minus: 5, plus: 2}
    assert flip_minus_keyed(flip_minus_keyed(answers)) == answers
    assert flip_minus_keyed({minus: 0}) == {minus: 0}


def test_a_keyed_file_is_read_as_the_options_people_chose(tmp_path, synthetic_people):
    keyed = write_population(tmp_path / "keyed.json", synthetic_people, "keyed")
    chosen = write_population(tmp_path / "chosen.json", synthetic_people, "chosen")
    from_keyed = [s.answers for s in load_subjects(keyed)]  # keyed is the JSON default
    from_chosen = [s.answers for s in load_subjects(chosen, orientation="chosen")]
    assert from_keyed == synthetic_people
    assert from_chosen == synthetic_people


def test_the_stored_values_correlate_positively_only_when_keyed(tmp_path, synthetic_people):
    keyed = json.loads(write_population(tmp_path / "k.json", synthetic_people, "keyed").read_text())
    rows = [{int(k[1:]): v for k, v in r.items() if k != "case"} for r in keyed]
    assert all(r > 0.3 for r in key_agreement(rows).values())
    assert all(r < -0.3 for r in key_agreement(synthetic_people).values())


@pytest.mark.parametrize(
    "stored, stated, fits", [("keyed", "chosen", "keyed"), ("chosen", "keyed", "chosen")]
)
def test_a_contradicting_orientation_is_refused_with_the_figures(
    tmp_path, synthetic_people, stored, stated, fits
):
    path = write_population(tmp_path / "people.json", synthetic_people, stored)
    with pytest.raises(PasoError, match=f"--orientation {fits}") as caught:
        load_subjects(path, orientation=stated)
    message = str(caught.value)
    assert str(path) in message and "A " in message and "mean" in message
    with pytest.raises(PasoError, match=f"--orientation {fits}"):
        select_subject(path, index=3, orientation=stated)


def test_fewer_than_twenty_subjects_are_not_checked(tmp_path):
    people = chosen_population(19, seed=3)
    path = write_population(tmp_path / "few.json", people, "keyed")
    assert [s.answers for s in load_subjects(path, orientation="chosen")] == [
        flip_minus_keyed(p) for p in people
    ]


def test_the_dev_file_is_detected_as_keyed(papi_dev):
    with pytest.raises(PasoError, match="--orientation keyed"):
        load_subjects(papi_dev, orientation="chosen")
    stored = [
        {int(k[1:]): v for k, v in r.items() if k.startswith("i")} for r in json.loads(papi_dev.read_text())
    ]
    assert all(r > 0.3 for r in key_agreement(stored).values())  # what keyed files look like


def _by_hand(answers: dict[int, int]) -> dict[str, float]:
    """Facet scores from chosen options, independently: mean of (a if + else 6 - a) over the 120 form."""
    sums: dict[str, list[int]] = {}
    for it in form_items("120"):
        a = answers.get(it.number, 0)
        if a:
            sums.setdefault(it.facet, []).append(a if item(it.number).keyed == "+" else 6 - a)
    return {f: sum(v) / len(v) for f, v in sums.items() if len(v) >= 2}


def test_import_from_a_keyed_file_and_its_chosen_twin_gives_the_same_profile(tmp_path, synthetic_people):
    keyed = write_population(tmp_path / "keyed.json", synthetic_people, "keyed")
    chosen = write_population(tmp_path / "chosen.json", synthetic_people, "chosen")
    a, _ = import_answers(keyed, profile_name="from-keyed", index=4)
    b, _ = import_answers(chosen, profile_name="from-chosen", index=4, orientation="chosen")
    assert a.answers == b.answers
    expected = _by_hand(synthetic_people[4])
    facets = {f: v for f, v in a.scores().facets.items() if v is not None}
    assert facets == pytest.approx(expected)
    assert "keyed" in a.source and "chosen" in b.source


def test_a_refused_import_writes_nothing(tmp_path, synthetic_people, paso_home):
    keyed = write_population(tmp_path / "keyed.json", synthetic_people, "keyed")
    with pytest.raises(PasoError, match="Nothing was written"):
        import_answers(keyed, profile_name="p", index=0, orientation="chosen")
    assert not list(paso_home.rglob("profile.json"))


def test_a_csv_is_chosen_unless_told_keyed(tmp_path):
    minus = next(i.number for i in form_items("120") if not i.plus_keyed)
    plus = next(i.number for i in form_items("120") if i.plus_keyed)
    path = tmp_path / "me.csv"
    path.write_text(f"item,answer\n{minus},2\n{plus},4\n")
    assert load_answer_csv(path) == {minus: 2, plus: 4}
    assert load_answer_csv(path, orientation="keyed") == {minus: 4, plus: 4}
    with pytest.raises(PasoError, match="--orientation"):
        load_answer_csv(path, orientation="raw")


def test_the_cli_refuses_a_wrong_orientation_and_says_which_fits(synthetic_keyed, capsys, paso_home):
    from paso_local.cli import main

    assert main(["onboard", "--import", str(synthetic_keyed), "--index", "0", "--orientation", "chosen"]) == 1
    err = capsys.readouterr().err
    assert "Error:" in err and "--orientation keyed" in err and "Traceback" not in err
    assert not list(paso_home.rglob("profile.json"))
    assert main(["onboard", "--import", str(synthetic_keyed), "--index", "0"]) == 0
    assert main(["onboard", "--orientation", "keyed"]) == 1  # without --import it has nothing to say
    assert "give --import too" in capsys.readouterr().err


def test_a_profile_imported_by_an_earlier_version_is_flagged_and_align_refuses_it(synthetic_keyed, capsys):
    from paso_local.cli import main
    from paso_local.person.profile import ProfileStore

    import_answers(synthetic_keyed, profile_name="old", index=0)
    store = ProfileStore()
    profile = store.load("old")
    assert profile.stale_import_notice() is None  # imported now: it records its orientation
    profile.source = "import:synthetic_keyed.json"  # what earlier versions wrote
    store.save(profile)
    assert main(["profile", "--profile", "old"]) == 0
    assert "minus-keyed answers are reversed" in capsys.readouterr().err
    assert main(["align", "--profile", "old"]) == 1
    err = capsys.readouterr().err
    assert "--replace" in err and "reversed answers" in err
