#!/usr/bin/env bash
# Install paso-local, then: answer the questionnaire, build your personality vector, and chat with it.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/install.sh
P=.venv/bin/paso-local
$P onboard          # resumes where you left off; finished profiles go straight on
$P profile
$P align            # PAS vector for the embedded SmolLM2-135M-Instruct
$P chat
