"""Pilot tests of `paso-local onboard`'s Textual questionnaire: answer, back, skip, quit, resume, finish."""

from __future__ import annotations

import json
import os
import stat

import pytest
from textual.widgets import Label, Static

from paso_local.errors import PasoError
from paso_local.person.inventory import DOMAINS, facets, form_items
from paso_local.person.onboarding import import_answers
from paso_local.person.profile import Profile, ProfileStore
from paso_local.person.scoring import score_answers
from paso_local.tui.onboarding import OnboardingApp
from paso_local.tui.onboarding.finish_screen import FinishScreen
from paso_local.tui.onboarding.profile_screen import ProfileScreen
from paso_local.tui.onboarding.question_screen import QuestionScreen
from paso_local.tui.onboarding.widgets.answer_options import AnswerOptions
from paso_local.tui.onboarding.widgets.score_bar import ScoreBar

ITEMS_120 = form_items("120")
SIZE = (100, 32)


class FakeClock:
    """A clock the test moves by hand, so the time-left estimate is deterministic."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_app(name: str = "default", form: str = "120", clock: FakeClock | None = None) -> OnboardingApp:
    return OnboardingApp(name, form, ProfileStore(), clock=clock or FakeClock())


def saved(name: str = "default") -> dict:
    return json.loads(ProfileStore().path(name).read_text(encoding="utf-8"))


def saved_answers(name: str = "default") -> dict[int, int]:
    return {int(k): v for k, v in saved(name)["answers"].items()}


def statement(app: OnboardingApp) -> str:
    return str(app.screen.query_one("#statement", Static).content)


async def test_answers_by_digit_are_saved_after_each_key():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert statement(app) == "Worry about things."
        for value in (1, 2, 3, 4, 5):
            await pilot.press(str(value))
            assert saved()["position"] == value  # written at once, not at quit
        assert statement(app) == ITEMS_120[5].text
    assert saved_answers() == {ITEMS_120[k].number: k + 1 for k in range(5)}


async def test_answers_by_letter_follow_the_papers_letters():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a", "b", "C", "d", "E")
    assert saved_answers() == {
        ITEMS_120[0].number: 5,
        ITEMS_120[1].number: 4,
        ITEMS_120[2].number: 3,
        ITEMS_120[3].number: 2,
        ITEMS_120[4].number: 1,
    }


async def test_answers_by_arrows_and_enter():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.query_one(AnswerOptions).highlighted is None  # nothing suggested for a new question
        await pilot.press("down", "enter")  # the first option: Very Inaccurate
        await pilot.press("down", "down", "down", "down", "enter")  # the fourth: Moderately Accurate
        await pilot.press(*["down"] * 5, "up", "enter")  # down to the fifth, up to the fourth
    assert saved_answers() == {ITEMS_120[0].number: 1, ITEMS_120[1].number: 4, ITEMS_120[2].number: 4}


async def test_back_shows_the_previous_answer_and_changes_it():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "4", "backspace")
        assert app.session.position == 1
        assert saved()["position"] == 1  # going back is saved too
        assert statement(app) == ITEMS_120[1].text
        assert app.screen.query_one(AnswerOptions).highlighted == 3  # the stored answer, 4
        assert "Moderately Accurate" in str(app.screen.query_one("#earlier", Label).content)
        await pilot.press("left")  # the other back key, also while the options have the focus
        assert statement(app) == ITEMS_120[0].text
        await pilot.press("5")  # change question 1
        await pilot.press("enter")  # keep question 2's answer
        assert app.session.position == 2
    assert saved_answers() == {ITEMS_120[0].number: 5, ITEMS_120[1].number: 4}


async def test_back_at_the_first_question_stays_there():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("backspace")
        assert app.session.position == 0
        assert statement(app) == ITEMS_120[0].text


async def test_skip_leaves_the_question_unanswered():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3", "s", "backspace")
        assert "skipped" in str(app.screen.query_one("#earlier", Label).content)
        assert app.screen.query_one(AnswerOptions).highlighted is None
        await pilot.press("s")
    data = saved()
    assert data["answers"] == {str(ITEMS_120[0].number): 3}
    assert data["skipped"] == [ITEMS_120[1].number]
    assert data["position"] == 2


@pytest.mark.parametrize("quit_key", ["q", "escape", "ctrl+c"])
async def test_quit_halfway_then_a_new_app_resumes_with_the_answers_kept(quit_key):
    keys = ["1", "2", "3", "4", "5", "s", "a", "b", "c", "d"]  # 9 answers and one skip
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys, quit_key)
    assert app.return_code == 0
    assert "Run `paso-local onboard` to continue at question 11 of 120" in app.farewell()

    path = ProfileStore().path("default")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    data = saved()
    expected = {
        ITEMS_120[k].number: v for k, v in enumerate([1, 2, 3, 4, 5, None, 5, 4, 3, 2]) if v is not None
    }
    assert saved_answers() == expected
    assert data["skipped"] == [ITEMS_120[5].number]
    assert data["position"] == 10 and data["completed_at"] is None

    resumed = make_app()
    async with resumed.run_test(size=SIZE) as pilot:
        assert isinstance(resumed.screen, QuestionScreen)
        assert statement(resumed) == ITEMS_120[10].text
        assert "11 of 120" in str(resumed.screen.query_one("#question-number", Label).content)
        await pilot.press("backspace")  # the answers of the first run are there to go back to
        assert resumed.screen.query_one(AnswerOptions).highlighted == 1  # question 10 was answered 2 (d)
        await pilot.press("enter", "4")
    assert saved_answers() == {**expected, ITEMS_120[10].number: 4}


async def test_time_left_follows_the_persons_own_pace():
    clock = FakeClock()
    app = make_app(clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        text = str(app.screen.query_one("#progress-text", Label).content)
        assert text == "1/120 · about 14 min left"  # 120 x the default 7 s
        for _ in range(6):
            clock.now += 10.0
            await pilot.press("3")
        text = str(app.screen.query_one("#progress-text", Label).content)
        assert text == "7/120 · about 19 min left"  # 114 x the median 10 s


async def test_finishing_shows_the_profile_with_the_scores_of_the_saved_answers():
    values = [(k * 7 + 3) % 5 + 1 for k in range(120)]
    keys = [str(v) for v in values]
    for k in (4, 9, 33):  # three skips
        keys[k] = "s"
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(*keys)
        assert isinstance(app.screen, FinishScreen)
        assert saved()["completed_at"] is None  # not complete until confirmed
        await pilot.press("enter")
        assert isinstance(app.screen, ProfileScreen)
        bars = {bar.label: bar.score for bar in app.screen.query(ScoreBar)}
    data = saved()
    assert data["completed_at"] is not None
    answers = saved_answers()
    assert len(answers) == 117 and sorted(data["skipped"]) == sorted(ITEMS_120[k].number for k in (4, 9, 33))
    expected = score_answers(answers, "120")
    assert len(bars) == 35
    for code, name in DOMAINS.items():
        assert bars[name] == pytest.approx(expected.domains[code])
    for code, name in facets().items():
        assert bars[name] == pytest.approx(expected.facets[code])


def save_profile_without_anxiety() -> None:
    """All 120 statements seen; the four Anxiety (N1) ones skipped, the rest answered 4."""
    profile = Profile(name="default", form="120", position=120)
    for item in ITEMS_120:
        profile.answer(item.number, None if item.facet == "N1" else 4)
    ProfileStore().save(profile)


async def test_missing_scores_are_shown_as_missing():
    save_profile_without_anxiety()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, FinishScreen)  # all seen, not confirmed yet
        assert "4 are unanswered" in str(app.screen.query_one("#finish-summary", Static).content)
        await pilot.press("enter")
        bars = {bar.label: bar for bar in app.screen.query(ScoreBar)}
        assert bars["Anxiety"].score is None
        assert "not enough answers" in bars["Anxiety"].render().plain
        assert bars["Neuroticism"].score == pytest.approx(score_answers(saved_answers(), "120").domains["N"])


async def test_the_end_screen_goes_to_the_first_unanswered_statement():
    save_profile_without_anxiety()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert isinstance(app.screen, QuestionScreen)
        assert statement(app) == ITEMS_120[0].text  # "Worry about things." is the first N1 statement
        await pilot.press("2")
        assert app.session.position == 1
    assert saved_answers()[ITEMS_120[0].number] == 2


async def test_the_end_screen_goes_back_to_the_last_question():
    save_profile_without_anxiety()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("backspace")
        assert isinstance(app.screen, QuestionScreen) and statement(app) == ITEMS_120[119].text
        await pilot.press("1")
        assert isinstance(app.screen, FinishScreen)
    assert saved_answers()[ITEMS_120[119].number] == 1


async def test_a_complete_profile_opens_on_the_profile_screen_and_retake_keeps_old_answers(papi_dev):
    profile, _ = import_answers(papi_dev, profile_name="default", form="120", index=0)
    before = saved_answers()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, ProfileScreen)
        await pilot.press("r")
        assert isinstance(app.screen, QuestionScreen)
        old = before.get(ITEMS_120[0].number)
        expected_highlight = None if old is None else old - 1
        assert app.screen.query_one(AnswerOptions).highlighted == expected_highlight
        await pilot.press("q")
    data = saved()
    assert saved_answers() == before
    assert data["completed_at"] is None and data["position"] == 0


async def test_a_profile_started_with_another_form_resumes_with_its_own_form():
    store = ProfileStore()
    profile = Profile(name="default", form="300", position=2)
    profile.answer(1, 2)
    profile.answer(2, 3)
    store.save(profile)
    app = make_app(form="120")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert app.session.profile.form == "300"
        assert statement(app) == form_items("300")[2].text
        assert any("300-item form" in n.message for n in app._notifications)
        await pilot.press("5")
    data = saved()
    assert data["form"] == "300" and saved_answers() == {1: 2, 2: 3, 3: 5}


async def test_retake_of_a_complete_profile_with_the_other_form_keeps_its_answers(papi_dev):
    import_answers(papi_dev, profile_name="default", form="120", index=0)
    before = saved_answers()
    app = make_app(form="300")
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        assert isinstance(app.screen, ProfileScreen)
        assert any("retake it as the 300-item form" in n.message for n in app._notifications)
        await pilot.press("r")
        assert app.session.total == 300
        assert statement(app) == form_items("300")[0].text
    data = saved()
    assert data["form"] == "300" and data["completed_at"] is None and saved_answers() == before


async def test_a_profile_damaged_during_the_session_is_not_overwritten():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("1")
        path = ProfileStore().path("default")
        path.write_bytes(b"edited by hand")
        await pilot.press("2")
    assert app.return_code == 1
    assert path.read_bytes() == b"edited by hand"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'{"something": "else"}\n', b'{"schema": "paso-local/profile", "schema_version": 1}\n'],
    ids=["not-json", "foreign", "damaged"],
)
def test_a_damaged_profile_file_is_refused_and_left_byte_identical(content, capsys):
    from paso_local.cli import main

    path = ProfileStore().path("default")
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(PasoError, match="left untouched"):
        make_app()
    assert main(["onboard"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and str(path) in err
    assert path.read_bytes() == content


def test_onboard_without_a_terminal_points_to_import(monkeypatch, capsys):
    import io

    from paso_local.cli import main

    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["onboard"]) == 1
    assert "--import FILE" in capsys.readouterr().err
