"""The statement-meaning contrast (align --contrast statement): the prompts, the activations cache and align's guard."""

from __future__ import annotations

import numpy as np

from paso_local.converters.align_inputs import can_fit
from paso_local.converters.pas import person_labels
from paso_local.converters.statement_activations import self_statement
from paso_local.person.inventory import form_items


def test_items_become_first_person_sentences():
    items = {i.number: i for i in form_items("300")}
    assert self_statement(items[1]) == "I worry about things."
    texts = [self_statement(i) for i in form_items("120")]
    assert all(t.startswith("I ") and t.endswith(".") and ".." not in t for t in texts)
    assert "I am always prepared." in texts


def test_statement_contrast_needs_both_sides_the_letter_contrast_does_not():
    numbers = list(range(1, 11))
    all_agree = person_labels(dict.fromkeys(numbers, 5), numbers)
    assert not can_fit(all_agree, one_sided=True)
    assert can_fit(all_agree, one_sided=False)
    mixed = person_labels({n: 5 if n <= 7 else 1 for n in numbers}, numbers)
    assert can_fit(mixed, one_sided=True)
    two_rejected = person_labels({n: 5 if n <= 8 else 1 for n in numbers}, numbers)
    assert not can_fit(two_rejected, one_sided=True)
    assert np.sum(mixed.agrees) == 7


def test_a_one_sided_profile_is_refused_before_any_forward_pass(tmp_path, monkeypatch):
    import pytest

    import paso_local.converters.align_command as align_command
    import paso_local.converters.align_inputs as align_inputs
    from paso_local.converters.align_inputs import statement_contrast_fits
    from paso_local.errors import PasoError

    numbers = [i.number for i in form_items("120")]
    one_sided = {n: 5 for n in numbers[:-2]} | {n: 1 for n in numbers[-2:]}
    assert not statement_contrast_fits(one_sided, numbers)
    assert statement_contrast_fits({n: 5 if k % 2 else 1 for k, n in enumerate(numbers)}, numbers)

    def no_activations(*args, **kwargs):
        raise AssertionError("activations were computed before the contrast was checked")

    monkeypatch.setattr(align_inputs, "item_activations", no_activations)
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


def test_denials_are_full_sentences_and_cached_apart_from_the_statements():
    from paso_local.converters.statement_activations import denied_statement, statement_cache_path

    items = {i.number: i for i in form_items("300")}
    assert denied_statement(items[1]) == "It is not true that I worry about things."
    some = form_items("120")[:5]
    said = statement_cache_path("0" * 64, some, "sys")
    assert statement_cache_path("0" * 64, some, "sys", denied=True) != said
    assert statement_cache_path("0" * 64, some, "sys", denied=False) == said


def test_negation_contrast_takes_the_statement_or_its_denial_as_the_persons_side():
    """Per item the person's side is the statement when they agree and its denial when they reject it: a
    head where saying an item writes +c and denying it writes -c (c: the item's trait content, which the
    person follows) separates the two sides perfectly and points toward the person's side."""
    from types import SimpleNamespace

    from paso_local.converters.align_inputs import ContrastActivations
    from paso_local.converters.align_pipeline import fit_vectors

    rng = np.random.default_rng(3)
    items = form_items("120")
    numbers = [i.number for i in items]
    n, n_layer, n_head, hd = len(items), 4, 2, 4
    content = rng.normal(size=n) + np.where(np.arange(n) % 2, 1.0, -1.0)
    said = rng.normal(size=(n, n_layer, n_head, hd)).astype(np.float32)
    denied = rng.normal(size=(n, n_layer, n_head, hd)).astype(np.float32)
    said[:, 3, 1, 0] += 3 * content
    denied[:, 3, 1, 0] -= 3 * content
    answers = {num: (5 if c > 0 else 1) for num, c in zip(numbers, content, strict=True)}
    w_o = {layer: rng.normal(size=(6, n_head * hd)) for layer in range(n_layer)}
    acts = SimpleNamespace(item_numbers=np.asarray(numbers))
    combined, _ = fit_vectors(
        acts, answers, items, 1, lambda layer: w_o[layer], 1, ContrastActivations(said, denied)
    )
    assert combined.heads == [(3, 1)]
    assert combined.directions[0][0] > 0.9
    assert combined.val_accuracy[0] > 0.8  # items with content near 0 drown in the noise
