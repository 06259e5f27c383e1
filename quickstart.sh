#!/usr/bin/env bash
# Install paso-local, then: answer the questionnaire, build your personality vector, and chat with it.
# Run it again to go on where you left off: a finished questionnaire is not shown again, and a vector newer
# than your answers is kept.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
P=.venv/bin/paso-local
# Leaving the questionnaire (q, Esc, ctrl+c) ends this script (status 3) with one line on how to go on.
$P onboard --if-needed --resume-command "bash quickstart.sh"
$P profile
$P align --if-needed  # PAS vector for the embedded SmolLM2-135M-Instruct
$P chat
