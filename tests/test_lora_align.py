"""`paso-local align --method dpo|ppo` (run_align_lora): a profile's answers -> a LoRA GGUF llama.cpp
loads, with the learning rate and epochs chosen on the person's own answers only."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

import paso_local.converters.lora_align as lora_align
import paso_local.converters.lora_command as lora_command
from paso_local.errors import PasoError


@pytest.mark.slow
def test_align_dpo_writes_an_adapter_llama_cpp_applies(tmp_path, papi_dev, smollm2_path, monkeypatch):
    from paso_local.converters.lora_export import read_lora_gguf
    from paso_local.llm.lora_adapter import apply_lora
    from paso_local.llm.runtime import Runtime
    from paso_local.person.onboarding import import_answers

    import_answers(papi_dev, profile_name="dev0", index=0)
    monkeypatch.setattr(lora_align, "LEARNING_RATES", {"dpo": (3e-3,)})  # a smaller grid keeps the test short
    monkeypatch.setattr(lora_align, "MAX_EPOCHS", 2)
    out, report_path = tmp_path / "dev0.dpo.gguf", tmp_path / "report.json"
    args = argparse.Namespace(profile="dev0", model=None, out=str(out), method="dpo", json=str(report_path))
    assert lora_command.run_align_lora(args) == 0
    report = json.loads(report_path.read_text())
    assert report["method"] == "dpo" and report["adapter_path"] == str(out)
    assert report["usable_answers"] > 100 and report["seconds"] > 0 and report["peak_rss_mb"] > 0
    candidates = {(c["lr"], c["epochs"]) for c in report["selection"]}
    assert candidates == {(0.0, 0), (3e-3, 1), (3e-3, 2)}
    assert (report["chosen"]["lr"], report["chosen"]["epochs"]) in candidates

    _, alpha, metadata = read_lora_gguf(out)
    assert alpha == lora_align.ALPHA and metadata["method"] == "dpo" and metadata["profile"] == "dev0"

    with Runtime.open(smollm2_path, n_ctx=512, n_threads=2) as runtime:
        tokens = runtime.chat_format.encode_chat([{"role": "user", "content": "Hi"}])

        def logits() -> np.ndarray:
            runtime.reset()
            runtime.eval_tokens(tokens, after=0)
            return runtime.last_logits()

        base = logits()
        with apply_lora(runtime, out):
            adapted = logits()
    if report["chosen"]["epochs"] == 0:
        np.testing.assert_array_equal(adapted, base)
    else:
        assert np.abs(adapted - base).max() > 1e-3


def test_unknown_method_is_refused(tmp_path, papi_dev):
    from paso_local.person.onboarding import import_answers

    import_answers(papi_dev, profile_name="dev0", index=0)
    args = argparse.Namespace(
        profile="dev0", model=None, out=str(tmp_path / "x.gguf"), method="sft", json=None
    )
    with pytest.raises(PasoError, match="--method 'sft'"):
        lora_command.run_align_lora(args)
