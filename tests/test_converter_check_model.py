"""`paso-local check-model` end to end on a tiny GGUF, and its building blocks."""

from __future__ import annotations

import json

import numpy as np
from tiny_gguf import TinySpec, write_tiny_model

from paso_local.cli import main
from paso_local.converters.check_model import PROMPTS, compare, random_steering, token_batches

JSON_KEYS = {
    "top1_agreement", "kl_mean", "kl_max", "max_abs_logit_diff", "steered_top1_agreement", "steered_kl_mean",
    "arch", "n_layer", "n_embd", "peak_rss_mb", "seconds",
}  # fmt: skip


def test_check_model_json_on_a_tiny_qwen2(tmp_path, capsys):
    path = write_tiny_model(tmp_path / "tiny-qwen2.gguf", TinySpec(arch="qwen2", seed=11))
    code = main(["check-model", "--model", str(path), "--prompts", "5", "--json"])
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert JSON_KEYS <= set(report)
    assert (report["arch"], report["n_layer"], report["n_embd"]) == ("qwen2", 3, 64)
    assert report["kl_mean"] < 1e-3 and report["steered_kl_mean"] < 1e-3
    assert report["steering_kl_mean"] > 0.01  # the random vector changed llama.cpp's answers
    assert report["peak_rss_mb"] > 50 and report["seconds"] > 0
    assert report["passed"] and code == 0  # a tiny model with exact F16 weights must pass parity
    assert "Comparing torch and llama.cpp" in captured.err  # progress on stderr, stdout stays JSON


def test_check_model_rejects_zero_prompts(tmp_path, capsys):
    path = write_tiny_model(tmp_path / "tiny.gguf", TinySpec())
    assert main(["check-model", "--model", str(path), "--prompts", "0"]) == 1
    assert capsys.readouterr().err.startswith("Error: --prompts 0")


def test_token_batches_respect_the_budget_and_keep_every_prompt():
    prompts = [[1] * n for n in (5, 40, 12, 33, 7, 40)]
    batches = token_batches(prompts, budget=80)
    assert sorted(i for b in batches for i in b) == list(range(6))
    for batch in batches:
        assert len(batch) == 1 or max(len(prompts[i]) for i in batch) * len(batch) <= 80


def test_random_steering_is_seeded_and_scaled_to_the_residual():
    norms = np.array([1.0, 10.0, 20.0, 40.0])
    a, b = random_steering(norms, 8, seed=0), random_steering(norms, 8, seed=0)
    assert a.shape == (3, 8) and a.dtype == np.float32 and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1) / norms[1:], np.linalg.norm(a[0]) / 10.0)


def test_compare_figures():
    ref = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 0.0]])
    same = compare(ref, ref)
    assert same.top1_agreement == 1.0 and same.kl_max == 0.0
    shifted = compare(ref, ref + 5.0)  # a constant shift is the same distribution
    assert shifted.kl_max < 1e-12 and shifted.max_abs_logit_diff == 5.0
    swapped = compare(ref, ref[:, [1, 0, 2]])
    assert swapped.top1_agreement == 0.0 and swapped.kl_mean > 0.1


def test_prompts_are_varied():
    assert len(set(PROMPTS)) == len(PROMPTS) >= 20


def test_check_model_fails_with_exit_1_when_parity_misses_its_targets(tmp_path, capsys, monkeypatch):
    """The same tiny model judged against targets it cannot meet (a KL bound of 0) fails, says so, exits 1."""
    import paso_local.converters.check_model as check

    monkeypatch.setattr(check, "KL_TARGET", 0.0)
    path = write_tiny_model(tmp_path / "tiny-qwen2.gguf", TinySpec(arch="qwen2", seed=11))
    code = main(["check-model", "--model", str(path), "--prompts", "3", "--json"])
    captured = capsys.readouterr()
    assert json.loads(captured.out)["passed"] is False and code == 1
    assert "FAIL: the torch model does not match llama.cpp" in captured.err
