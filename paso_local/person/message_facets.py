"""Which facets a chat message is about: a local lexical match, no model and no network.

Each of the 30 facets is a small document: its name, the texts of its ten IPIP-NEO items and a few words from
the facet's usual description (FACET_WORDS). A message's words (lower-cased, crudely stemmed, stop words
dropped) score a facet by the summed inverse document frequency of the words they share with it, so a word
that names one facet ("party") counts more than one spread over many ("people"). Measured on the labelled
messages in tests/data/message_facets.json (tests/test_message_facets.py: top-3 facet accuracy).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache

from paso_local.person.inventory import all_items, facets

# A few words per facet from its standard description (NEO facet definitions), not from any test message.
FACET_WORDS: dict[str, str] = {
    "A1": "trust honest intentions suspicious believe",
    "A2": "honest sincere cheat lie deceive fair rules money",
    "A3": "help helping generous kind care others",
    "A4": "argue conflict compromise cooperate fight disagree yield",
    "A5": "modest humble boast brag praise superior",
    "A6": "sympathy compassion suffering poor homeless feel sorry",
    "C1": "capable competent handle succeed confident skills",
    "C2": "tidy order organised organized neat mess clean plan schedule",
    "C3": "duty promise rules obligation reliable keep word",
    "C4": "ambition goals achieve success work hard career promotion",
    "C5": "discipline procrastinate start finish chores lazy motivation",
    "C6": "careful cautious impulsive think rash decision risk",
    "E1": "friendly warm friends welcome hello meet new",
    "E2": "party parties crowd social gathering company people events",
    "E3": "lead leader charge speak assertive decide control meetings",
    "E4": "busy active energy pace activities always go",
    "E5": "thrill excitement adventure risk adrenaline exciting",
    "E6": "cheerful fun joy laugh happy enjoy",
    "N1": "worry anxious nervous fear afraid stress",
    "N2": "anger angry annoyed irritated furious temper",
    "N3": "sad down depressed blue hopeless lonely",
    "N4": "embarrassed shy awkward self conscious ashamed strangers",
    "N5": "crave resist temptation overeat binge spend impulse",
    "N6": "pressure panic overwhelmed cope crisis stress",
    "O1": "imagination fantasy daydream dream creative story",
    "O2": "art music beauty poetry museum concert",
    "O3": "emotions feelings moved experience",
    "O4": "new change travel different routine try variety",
    "O5": "ideas abstract philosophy theory think complex read",
    "O6": "tradition authority religion liberal conservative law rules",
}
STOP_WORDS = frozenset(
    "a an and are am as at be but by can could do does did for from have has had how i i'm if in into is it "
    "its me my of on or our should so that the their them then there this to too us was we were what when "
    "which while who why will with would you your not no just more most about any than very".split()
)
_SUFFIXES = ("ingly", "edly", "ness", "ment", "ing", "ies", "ied", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """Crude suffix stripping ("worrying" -> "worry", "parties" -> "party"), enough to match item texts."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def words(text: str) -> list[str]:
    """Lower-cased, stemmed content words of a text."""
    return [stem(w) for w in re.findall(r"[a-z']+", text.lower()) if w not in STOP_WORDS and len(w) > 2]


@lru_cache(maxsize=1)
def _facet_words() -> dict[str, frozenset[str]]:
    docs: dict[str, list[str]] = {
        code: words(f"{name} {FACET_WORDS[code]}") for code, name in facets().items()
    }
    for it in all_items():
        docs[it.facet] += words(it.text)
    return {code: frozenset(ws) for code, ws in docs.items()}


@lru_cache(maxsize=1)
def _idf() -> dict[str, float]:
    docs = _facet_words()
    counts: dict[str, int] = {}
    for ws in docs.values():
        for w in ws:
            counts[w] = counts.get(w, 0) + 1
    return {w: math.log(1 + len(docs) / c) for w, c in counts.items()}


def facet_scores(message: str) -> dict[str, float]:
    """Every facet's score for the message (0 when they share no word)."""
    idf = _idf()
    seen = set(words(message))
    return {code: sum(idf[w] for w in seen & ws) for code, ws in _facet_words().items()}


def match_facets(message: str, k: int = 3) -> list[str]:
    """The k facets the message is most about (score > 0 only; ties in facet order)."""
    scores = facet_scores(message)
    ranked = sorted((code for code, s in scores.items() if s > 0), key=lambda c: -scores[c])
    return ranked[:k]
