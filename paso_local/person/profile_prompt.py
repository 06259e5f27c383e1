"""The person described in words for a system prompt: their Big Five domain and facet scores (1..5).

One text for every place that tells the model who the person is: eval's and assess's `profile-prompt` method
(from a subject's 120 answers) and the system prompt of chat and ask (from the onboarded profile, 120 or 300
form). What it does on the models measured: docs/results/2026-12-04-chosen-space.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.llm.modelfiles import embedded_model_path
from paso_local.person.inventory import DOMAINS, facets
from paso_local.person.profile import ProfileStore
from paso_local.person.scoring import Scores, score_answers
from paso_local.store.config import flag

CONFIG_KEY = "profile_prompt"


def _level(score: float) -> str:
    if score < 2.5:
        return "low"
    if score <= 3.5:
        return "average"
    return "high"


def describe_scores(scores: Scores) -> str:
    """The system prompt for a person with these scores (domains and facets; a missing one is "unknown")."""
    names = facets()
    parts = []
    for domain, domain_name in DOMAINS.items():
        value = scores.domains[domain]
        if value is None:
            parts.append(f"{domain_name}: unknown")
            continue
        facet_text = ", ".join(
            f"{names[code].lower()} {scores.facets[code]:.1f}"
            for code in names
            if code.startswith(domain) and scores.facets[code] is not None
        )
        parts.append(f"{domain_name} {value:.1f} ({_level(value)}; {facet_text})")
    return (
        "You are a person with this personality (Big Five scores from your own answers to the "
        f"IPIP-NEO-{scores.form} questionnaire, 1 = very low, 3 = average, 5 = very high): "
        + "; ".join(parts)
        + ". Answer every question as this person would."
    )


def profile_prompt(alignment: Mapping[int, int]) -> str:
    """The system prompt from the 120 alignment answers (300-form item numbers -> 1..5)."""
    return describe_scores(score_answers(alignment, form="120"))


def profile_prompt_wanted(wanted: bool | None, model: Path) -> bool:
    """--profile-prompt / --no-profile-prompt; None: config.json's "profile_prompt", else on for every model
    but the embedded SmolLM2-135M. Measured against the options people chose (docs/results/2026-12-04-chosen-
    space.md): on Qwen2.5-Coder-1.5B it lowered the error for 5 of 5 dev subjects (4.92 -> 4.17), though another
    person's profile does as much (4.16): it moves the model off its agreeing default rather than toward this
    person; on SmolLM2 it was worse for 9 of 10 (3.38 -> 3.55)."""
    if wanted is not None:
        return wanted
    embedded = embedded_model_path()
    return flag(CONFIG_KEY, embedded is None or model.resolve() != embedded.resolve())


def profile_prompt_for(profile_name: str) -> tuple[str | None, str | None]:
    """The profile's description for the system prompt, or None and why there is none (a profile that is
    missing, unreadable or without answers never stops the chat)."""
    try:
        profile = ProfileStore().load_or_none(profile_name)
    except PasoError as exc:
        return None, f"No profile prompt: {with_command_name(str(exc))}"
    if profile is None:
        return None, with_command_name(
            f"No profile prompt: there is no profile {profile_name!r} yet (run `paso-local onboard`)."
        )
    scores = profile.scores()
    if scores.answered == 0:
        return None, f"No profile prompt: profile {profile_name!r} has no answers yet."
    return describe_scores(scores), None


__all__ = ["describe_scores", "profile_prompt", "profile_prompt_for", "profile_prompt_wanted"]
