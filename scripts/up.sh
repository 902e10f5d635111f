#!/usr/bin/env bash
# Install everything, then run the app, a worker and the embedded defaults (Ctrl+C stops all).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/clinic up "$@"
