"""<config>/config.json, the person's settings file (optional; `paso-local models` prints where it is).

Keys read: "model_dirs" (directories to look for GGUF models in), "rpc_servers" (llama.cpp rpc-server
addresses the model is split over) and "profile_prompt" (true or false: whether chat and ask describe the
person to the model in the system prompt). This module owns the file: it reads it and says what is wrong with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from paso_local.errors import PasoError
from paso_local.store.paths import config_dir
from paso_local.store.storage import read_json_object

CONFIG_FILE = "config.json"


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def read_config() -> dict[str, Any]:
    """The settings, {} when there is no config.json."""
    path = config_path()
    if not path.is_file():
        return {}
    return read_json_object(
        path,
        unreadable="{path} is not valid JSON ({exc}); fix or delete it",
        not_object='{path} must hold a JSON object such as {{"model_dirs": [...]}}; fix or delete it',
    )


def string_list(key: str) -> list[str]:
    """A config key that holds a list of strings ([] when absent); anything else is an error naming it."""
    value = read_config().get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise PasoError(f'{config_path()}: "{key}" must be a list of strings, got {value!r:.80}')
    return value


def flag(key: str, default: bool) -> bool:
    """A config key that holds true or false (`default` when absent); anything else is an error naming it."""
    value = read_config().get(key, default)
    if not isinstance(value, bool):
        raise PasoError(f'{config_path()}: "{key}" must be true or false, got {value!r:.80}')
    return value
