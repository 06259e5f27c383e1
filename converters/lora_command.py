"""`paso-local align --method dpo|ppo`: a profile's answers -> a llama.cpp LoRA GGUF beside its vectors."""

from __future__ import annotations

import argparse
from pathlib import Path

from paso_local.converters.lora_align import METHODS, LoraAligner
from paso_local.errors import PasoError


def lora_path_for(profile_name: str, model_path: Path, method: str) -> Path:
    """Default output: beside the profile's control vectors, named by the model file's hash and the method."""
    from paso_local.llm.modelfiles import file_sha256
    from paso_local.person.vector_store import vectors_dir

    return vectors_dir(profile_name) / f"{file_sha256(model_path)[:16]}.{method}-lora.gguf"


def run_align_lora(args: argparse.Namespace) -> int:
    """`paso-local align --method dpo|ppo`: the profile's answers -> a llama.cpp LoRA GGUF."""
    from paso_local.llm.modelfiles import file_sha256, resolve_model
    from paso_local.person.profile import ProfileStore
    from paso_local.progress import status
    from paso_local.store.storage import check_output_writable, write_report

    method = args.method
    if method not in METHODS:
        raise PasoError(f"--method {method!r}: choose one of {', '.join(METHODS)} (or pas)")
    profile = ProfileStore().load(args.profile)
    model_path = resolve_model(args.model)
    out = (
        Path(args.out).expanduser()
        if getattr(args, "out", None)
        else lora_path_for(args.profile, model_path, method)
    )
    check_output_writable(out, what="the LoRA adapter", example=f"{method}-lora.gguf")
    aligner = LoraAligner(model_path, form=profile.form)
    result = aligner.align(profile.usable_answers(), method)
    path = result.write(
        out, aligner.architecture, {"model_sha256": file_sha256(model_path), "profile": args.profile}
    )
    status(
        f"Wrote {path}\n  {method} LoRA (rank {result.config.rank}, block {result.config.first_layer}), "
        f"lr {result.chosen['lr']:g}, {result.chosen['epochs']} epochs chosen on "
        f"your answers; {result.seconds:.0f} s, peak {result.peak_rss_mb:.0f} MB"
    )
    if getattr(args, "json", None):
        write_report(result.as_report(args.profile, path, model_path), args.json)
    return 0
