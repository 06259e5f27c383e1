"""The chat's local message -> facet matcher: its pieces by hand, and its top-3 accuracy on the labelled set."""

from __future__ import annotations

import json
from pathlib import Path

from paso_local.person.message_facets import facet_scores, match_facets, stem, words

LABELLED = Path(__file__).parent / "data" / "message_facets.json"


def test_stem_and_words_by_hand():
    assert stem("worrying") == "worry" and stem("parties") == "party" and stem("cats") == "cat"
    assert stem("is") == "is"  # too short to strip
    assert words("I can't stop Worrying about my exams!") == ["can't", "stop", "worry", "exam"]


def test_a_message_about_a_party_is_about_gregariousness():
    assert match_facets("Should I go to the party tonight?", 3)[0] == "E2"
    assert match_facets("", 3) == [] and set(facet_scores("zzz").values()) == {0.0}


def top_k_accuracy(k: int) -> float:
    messages = json.loads(LABELLED.read_text())["messages"]
    hits = sum(m["facet"] in match_facets(m["text"], k) for m in messages)
    return hits / len(messages)


def test_top3_facet_accuracy_on_the_labelled_messages():
    """Measured: top-1 0.90 and top-3 0.90 (27 of 30). The facet words were written after the messages by
    the same author, so that figure is optimistic; from the item texts and facet names alone (next test)
    top-1 is 0.67 and top-3 0.80."""
    assert len(json.loads(LABELLED.read_text())["messages"]) == 30
    assert top_k_accuracy(3) >= 0.9 - 1e-9


def test_items_and_facet_names_alone_reach_most_of_it(monkeypatch):
    import paso_local.person.message_facets as matcher

    monkeypatch.setattr(matcher, "FACET_WORDS", dict.fromkeys(matcher.FACET_WORDS, ""))
    matcher._facet_words.cache_clear()
    matcher._idf.cache_clear()
    try:
        assert top_k_accuracy(3) >= 0.8 - 1e-9
    finally:
        matcher._facet_words.cache_clear()
        matcher._idf.cache_clear()
