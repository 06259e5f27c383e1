"""Where a profile's control vector for a given model lives.

Layout: `<data>/profiles/<profile>/vectors/<model-sha256[:16]>.gguf`, one vector per (profile, model file),
keyed by the model's content hash so a renamed or moved model still finds its vector. `vectors/index.json`
records which model file each vector was made for (for listings only: `find_vector` needs only the file).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from paso_local.errors import PasoError
from paso_local.invocation import with_command_name
from paso_local.llm.modelfiles import file_sha256
from paso_local.person.profile import ProfileStore
from paso_local.store.storage import atomic_write_json, read_json_object

VECTOR_DIR = "vectors"
INDEX_FILE = "index.json"
HASH_PREFIX_LEN = 16


def vectors_dir(profile_name: str) -> Path:
    """The profile's vector directory (not created here)."""
    return ProfileStore().profile_dir(profile_name) / VECTOR_DIR


def vector_path_for(profile_name: str, model_path: str | Path) -> Path:
    """The path where `profile_name`'s vector for the model file `model_path` is (or will be) stored."""
    directory = vectors_dir(profile_name)  # checks the profile name first
    model = Path(model_path)
    if not model.is_file():
        raise PasoError(
            f"model file {model} does not exist; give the path of a .gguf file (see `paso-local models`)"
        )
    return directory / f"{file_sha256(model)[:HASH_PREFIX_LEN]}.gguf"


def find_vector(profile_name: str, model_path: str | Path) -> Path | None:
    """The stored vector of `profile_name` for this model, or None when align has not made one yet."""
    path = vector_path_for(profile_name, model_path)
    return path if path.is_file() else None


def record_vector(profile_name: str, model_path: str | Path) -> None:
    """Note in the index which model file the stored vector belongs to (call after writing the vector)."""
    model = Path(model_path).resolve()
    path = vector_path_for(profile_name, model)
    index = read_index(profile_name)
    index[path.stem] = {
        "vector_file": path.name,
        "model_file": model.name,
        "model_path": str(model),
        "model_sha256": file_sha256(model),
        "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    atomic_write_json(vectors_dir(profile_name) / INDEX_FILE, index)


def read_index(profile_name: str) -> dict[str, dict]:
    """The index (hash prefix -> entry); empty when missing. A damaged index is an error naming the file."""
    path = vectors_dir(profile_name) / INDEX_FILE
    if not path.is_file():
        return {}
    return read_json_object(
        path,
        unreadable="{path} is damaged ({exc}); delete it (the vectors themselves are kept)",
        not_object="{path} is not a vector index (expected a JSON object); delete it",
    )


def choose_vector(
    profile_name: str, model_path: Path, *, explicit: str | Path | None = None, no_steer: bool = False
) -> tuple[Path | None, str | None]:
    """The vector to steer with and, when there is none, a notice saying what to run to get one.

    An explicit --vector wins; --no-steer means none; otherwise the profile's stored vector for this model."""
    if no_steer:
        return None, None
    if explicit:
        return Path(explicit).expanduser(), None
    if not ProfileStore().exists(profile_name):
        return None, with_command_name(
            f"No profile {profile_name!r} yet, so replies are unsteered. Run `paso-local onboard` and then "
            "`paso-local align` to align them to your personality."
        )
    found = find_vector(profile_name, model_path)
    if found is None:
        return None, with_command_name(
            f"Profile {profile_name!r} has no vector for {Path(model_path).name} yet, so replies are "
            f"unsteered. Run `paso-local align --profile {profile_name} --model {model_path}` to make one."
        )
    return found, None
