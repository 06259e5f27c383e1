"""`paso-local chat`: the steered local assistant in the terminal."""

from __future__ import annotations

import argparse


def run_chat(args: argparse.Namespace) -> int:
    """Resolve the model up front (a missing one is a plain error), then run the app, which loads it."""
    from paso_local.modelfiles import resolve_model
    from paso_local.profile import validate_profile_name
    from paso_local.runtime import Steering
    from tui.chat.app import ChatApp
    from tui.chat.backend import RuntimeBackend, RuntimeOptions

    validate_profile_name(args.profile)
    model = resolve_model(args.model)
    options = RuntimeOptions(
        model=str(model),
        profile=args.profile,
        vector=args.vector,
        n_ctx=args.n_ctx,
        threads=args.threads,
        n_gpu_layers=args.n_gpu_layers,
        adapter=getattr(args, "adapter", None),
    )
    backend = RuntimeBackend(options)
    strength = 1.0 if args.strength is None else float(args.strength)
    app = ChatApp(
        backend, profile_name=args.profile, steering=Steering(enabled=not args.no_steer, strength=strength)
    )
    try:
        app.run()
    finally:
        app.stop_and_wait()
        backend.close()
        app.store.close()
    return 0


__all__ = ["run_chat"]
