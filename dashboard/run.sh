#!/usr/bin/env bash
# Set up (venv + requirements) and open the dashboard on the embedded demo.
#   bash dashboard/run.sh [-- --checkpoints DIR ...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(command -v python3.11 || command -v python3)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
# Server settings (headless, no file watcher, upload cap) live in .streamlit/config.toml.
# One thread per forward pass unless the caller says otherwise: the demo-sized model is
# latency-bound, and on a busy 2-core machine a forward pass took 570 ms with the default
# thread pool against 18 ms with one thread. The browser tests run the server the same way.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec .venv/bin/python -m streamlit run dashboard/app.py "$@"
