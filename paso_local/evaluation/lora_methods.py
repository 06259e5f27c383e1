"""The DPO and PPO baselines in eval: per subject, a LoRA adapter trained on the 120 alignment answers
(paso_local.converters.lora_align, through the aligner the command layer passes in: exactly what `paso-local align
--method dpo|ppo` trains), written as a llama.cpp LoRA GGUF, applied to the same loaded llama.cpp model
(`Runtime.apply_lora`) and asked the 180 held-out items with the paper's system prompt, like `base`.

Per subject the JSON adds `train_seconds` (hyper-parameter choice + final training), `peak_rss_mb` (peak
resident memory of the process during that subject's training, VmHWM after a reset) and the chosen
`lr` / `epochs`. `seconds` is training + asking, as for pas.

Plugged in by `run_lora_methods(evaluation, names, targets, bar, populations)`, which command.run_eval calls for the
names in LORA_METHODS (`paso-local eval --methods base,dpo,ppo`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from paso_local.evaluation.aligning import AdapterTrainer
from paso_local.evaluation.methods import TRAINED_METHODS, Method
from paso_local.evaluation.runs import MethodRun, Populations, score_readings
from paso_local.person.questionnaire_prompt import SYSTEM_PROMPT

LORA_METHODS: dict[str, Method] = {
    name: Method(name, lambda _answers: SYSTEM_PROMPT, steered=False, personal=True)
    for name in TRAINED_METHODS
}


def run_lora_methods(
    evaluation: Any,
    names: Sequence[str],
    targets: Sequence[Any],
    bar: Any,
    populations: Populations,
    trainer: AdapterTrainer | None = None,
) -> dict[str, MethodRun]:
    """Ask every target under each LoRA method; {name: command.MethodRun}. `evaluation` is a
    command.Evaluation (its runtime and asker are reused); `bar` advances once per item asked."""
    from paso_local.llm.lora_adapter import apply_lora
    from paso_local.progress import status

    trainer = trainer or evaluation.aligner.lora_trainer(evaluation.model_path, evaluation.workdir)
    runs = {name: MethodRun(LORA_METHODS[name]) for name in names}
    for k, subject in enumerate(targets, start=1):
        for name in names:
            bar.describe(f"{name}: training on subject {k}/{len(targets)} (case {subject.case})")
            path, cost = trainer.adapter_for(subject, name)
            evaluation.unsteer()
            bar.describe(f"{name}: subject {k}/{len(targets)} (case {subject.case})")
            with apply_lora(evaluation.runtime, path):
                readings, seconds = evaluation.ask(SYSTEM_PROMPT, bar)
            result = score_readings(
                subject, readings, seconds + cost["train_seconds"], populations[subject.index]
            )
            result.extra.update(cost)
            run = runs[name]
            run.seconds += seconds + cost["train_seconds"]
            run.results.append(result)
            status(
                f"{name} case {subject.case}: Aligned Score sum {result.score.total:.3f}, train "
                f"{cost['train_seconds']:.0f} s, ask {seconds:.0f} s, peak {cost['peak_rss_mb']:.0f} MB, "
                f"lr {cost['lr']:g}, epochs {cost['epochs']}"
            )
    return runs
