"""`paso-local chat`: the steered local assistant in the terminal."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paso_local.tui.chat.app import ChatApp


def run_chat(args: argparse.Namespace) -> int:
    """Resolve the model up front (a missing one is a plain error), then run the app, which loads it."""
    from paso_local.llm.lora_adapter import session_adapter
    from paso_local.llm.modelfiles import resolve_model
    from paso_local.llm.rpc import check_usable, chosen_servers
    from paso_local.llm.steering import Steering
    from paso_local.person.profile import validate_profile_name
    from paso_local.person.profile_prompt import profile_prompt_for, profile_prompt_wanted
    from paso_local.person.recall import load_memory, recall_wanted
    from paso_local.tui.chat.app import ChatApp
    from paso_local.tui.chat.backend import RuntimeBackend, RuntimeOptions
    from paso_local.tui.chat.process_backend import ProcessBackend
    from paso_local.tui.chat.session import AnswerRecall, ProfilePrompt

    validate_profile_name(args.profile)
    model = resolve_model(args.model)
    adapter, reader, adapter_notice = session_adapter(
        getattr(args, "adapter", None), getattr(args, "reader", None), model
    )
    if adapter_notice:
        print(adapter_notice, file=sys.stderr)
    servers = chosen_servers(args.rpc)
    if servers:
        check_usable(servers)  # an unreachable server or a build without RPC is said here, before the app
    options = RuntimeOptions(
        model=str(model),
        profile=args.profile,
        vector=args.vector,
        n_ctx=args.n_ctx,
        threads=args.threads,
        n_gpu_layers=args.n_gpu_layers,
        adapter=None if adapter is None else str(adapter),
        rpc_servers=tuple(str(server) for server in servers),
    )
    # over RPC, llama.cpp ends its process when a server drops: the model runs in a child process then
    backend = ProcessBackend(options) if servers else RuntimeBackend(options)
    strength = 1.0 if args.strength is None else float(args.strength)
    text, note = profile_prompt_for(args.profile)
    memory, memory_note = load_memory(args.profile)
    app = ChatApp(
        backend,
        profile_name=args.profile,
        steering=Steering(enabled=not args.no_steer, strength=strength),
        profile_prompt=ProfilePrompt(text, profile_prompt_wanted(args.profile_prompt, model), note),
        answer_recall=AnswerRecall(
            memory,
            reader or recall_wanted(getattr(args, "memory", None)),
            memory_note,
            reader=adapter.name if reader and adapter is not None else None,
        ),
    )
    try:
        app.run()
    finally:
        app.stop_and_wait()
        backend.close()
    return closing_status(app)


def closing_status(app: ChatApp) -> int:
    """Once the app has closed: save what is still unsaved (space may have been freed meanwhile) and close
    the store. 1, with a line on stderr, when messages could not be saved or the app failed; else 0."""
    try:
        error = app.chat.session.save_unsaved()
        unsaved = len(app.chat.session.unsaved)
    finally:
        app.store.close()
    if error is not None:
        plural = "s" if unsaved != 1 else ""
        print(f"Error: {unsaved} message{plural} of this chat could not be saved: {error}", file=sys.stderr)
        return 1
    return app.return_code or 0


__all__ = ["run_chat"]
