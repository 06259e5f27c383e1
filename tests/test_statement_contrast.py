"""Issue 8's statement-meaning contrast: the prompts, the activations cache and align's guard."""

from __future__ import annotations

import numpy as np

from converters.align_command import can_fit
from converters.pas import person_labels
from converters.statement_activations import self_statement
from paso_local.inventory import form_items


def test_items_become_first_person_sentences():
    items = {i.number: i for i in form_items("300")}
    assert self_statement(items[1]) == "I worry about things."
    texts = [self_statement(i) for i in form_items("120")]
    assert all(t.startswith("I ") and t.endswith(".") and ".." not in t for t in texts)
    assert "I am always prepared." in texts


def test_statement_contrast_needs_both_sides_the_letter_contrast_does_not():
    numbers = list(range(1, 11))
    all_agree = person_labels(dict.fromkeys(numbers, 5), numbers)
    assert not can_fit(all_agree, statement_contrast=True)
    assert can_fit(all_agree, statement_contrast=False)
    mixed = person_labels({n: 5 if n <= 7 else 1 for n in numbers}, numbers)
    assert can_fit(mixed, statement_contrast=True)
    two_rejected = person_labels({n: 5 if n <= 8 else 1 for n in numbers}, numbers)
    assert not can_fit(two_rejected, statement_contrast=True)
    assert np.sum(mixed.agrees) == 7


def test_a_one_sided_profile_is_refused_before_any_forward_pass(tmp_path, monkeypatch):
    import pytest

    import converters.align_command as align_command
    from converters.align_command import statement_contrast_fits
    from paso_local.errors import PasoError

    numbers = [i.number for i in form_items("120")]
    one_sided = {n: 5 for n in numbers[:-2]} | {n: 1 for n in numbers[-2:]}
    assert not statement_contrast_fits(one_sided, numbers)
    assert statement_contrast_fits({n: 5 if k % 2 else 1 for k, n in enumerate(numbers)}, numbers)

    def no_activations(*args, **kwargs):
        raise AssertionError("activations were computed before the contrast was checked")

    monkeypatch.setattr(align_command, "item_activations", no_activations)
    with pytest.raises(PasoError, match="statement contrast needs at least 3 answers on each side"):
        align_command.align(
            model=None,
            profile_name="t",
            out=str(tmp_path / "v.gguf"),
            answers_override=one_sided,
            form="120",
            show_progress=False,
            contrast="statement",
        )
    assert not (tmp_path / "v.gguf").exists()
