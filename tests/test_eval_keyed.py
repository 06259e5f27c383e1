"""Keyed vectors (one per item group): groups, and eval asking each group's items with its own vector."""

from __future__ import annotations

import numpy as np
import pytest

from paso_local.person.inventory import form_items, held_out_items, item_group


def test_items_group_by_domain_or_by_domain_and_key():
    items = {i.number: i for i in form_items("300")}
    assert item_group(items[1], "domain") == "N" and item_group(items[1], "domain+key") == "N+"
    assert {item_group(i, "domain+key") for i in items.values()} == {f"{d}{k}" for d in "ACENO" for k in "+-"}
    with pytest.raises(ValueError, match="domain\\+key"):
        item_group(items[1], "facet")


@pytest.mark.model
def test_each_group_is_asked_with_its_own_vector(tmp_path, monkeypatch, papi_dev, smollm2_path):
    """With files for N and E only: N and E items read as when asked under that vector alone, the other
    domains as unsteered, and the readings come back in held-out order."""
    from paso_local.converters.export import build_control_vector
    from paso_local.evaluation import command
    from paso_local.evaluation.command import Evaluation
    from paso_local.evaluation.methods import METHODS
    from paso_local.evaluation.split import split_subject
    from paso_local.llm.controlvector import write_control_vector
    from paso_local.llm.steering import Steering
    from paso_local.person.subjects import load_subjects
    from paso_local.progress import progress_bar

    rng = np.random.default_rng(0)
    files = {}
    for group, sign in (("N", 1.0), ("E", -1.0)):
        directions = {b: (sign * rng.normal(size=576)).astype(np.float32) for b in (14, 18)}
        files[group] = tmp_path / f"{group}.gguf"
        vector = build_control_vector(
            model_hint="llama", n_embd=576, n_layer=30, directions=directions, strength=0.5,
            model_path=smollm2_path, model_sha256="", profile="test", form="120", usable_answers=0,
            heads_k=0, chosen_heads=[], placement="L-1", cv={}, domains={},
        )  # fmt: skip
        write_control_vector(vector, files[group])
    calls = []

    class FakeAligner:
        def align_keyed_to_dir(self, request, out_dir, by):
            calls.append(by)
            return {"A": None, "C": None, "E": files["E"], "N": files["N"], "O": None}, {"keyed_by": by}

    few = tuple(i for d in "ACENO" for i in [j for j in held_out_items() if j.domain == d][:3])
    monkeypatch.setattr(command, "held_out_items", lambda: few)  # 15 items keep the test short
    subject = split_subject(load_subjects(papi_dev)[0])
    evaluation = Evaluation(smollm2_path, "distribution", threads=1, aligner=FakeAligner())
    try:
        with progress_bar("test", 10_000, enabled=False) as bar:
            readings, _, _, report = evaluation.ask_keyed(subject, METHODS["pas-by-domain"], bar)
            items = few
            assert calls == ["domain"] and report == {"keyed_by": "domain"}
            assert [r.number for r in readings] == [i.number for i in items]
            got = {r.number: r.distribution for r in readings}
            plain = {
                r.number: r.distribution
                for r in evaluation.asker.ask(METHODS["base"].system_prompt({}), items)
            }
            for group in ("N", "E"):
                evaluation.runtime.load_vector(files[group])
                evaluation.runtime.set_steering(Steering())
                subset = [i for i in items if i.domain == group]
                alone = evaluation.asker.ask(METHODS["base"].system_prompt({}), subset)
                for reading in alone:
                    np.testing.assert_allclose(got[reading.number], reading.distribution, atol=1e-6)
                assert max(abs(got[r.number][k] - plain[r.number][k]) for r in alone for k in range(5)) > 0.01
            for item in items:
                if item.domain in "ACO":
                    np.testing.assert_allclose(got[item.number], plain[item.number], atol=1e-6)
    finally:
        evaluation.close()
