#!/usr/bin/env bash
# Set up (venv + requirements) and open the dashboard on the embedded demo.
#   bash dashboard/run.sh [-- --checkpoints DIR ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
# Server settings (headless, no file watcher, upload cap) live in .streamlit/config.toml.
exec .venv/bin/python -m streamlit run dashboard/app.py "$@"
