#!/usr/bin/env bash
# Does the virtual environment VENV (default .venv) belong to this folder? A venv records its own
# absolute path (bin/activate's VIRTUAL_ENV, the scripts' #! lines); a folder moved or copied with its
# .venv keeps running the old location's interpreter and code. Exit 0 when VENV's recorded path is
# VENV's real path, 1 (with the reason) when it points elsewhere, 2 when VENV is not a venv.
set -euo pipefail
VENV=${1:-.venv}
if [ ! -f "$VENV/bin/activate" ] || [ ! -f "$VENV/pyvenv.cfg" ]; then
  echo "$VENV is not a virtual environment (no bin/activate or pyvenv.cfg)" >&2
  exit 2
fi
recorded=$(sed -n "s/^ *\(export \)\?VIRTUAL_ENV=[\"']\?\([^\"']*\)[\"']\?$/\2/p" "$VENV/bin/activate" | head -1)
here=$(cd "$VENV" && pwd -P)
if [ -z "$recorded" ] || [ "$(cd "$recorded" 2>/dev/null && pwd -P)" != "$here" ]; then
  echo "$VENV was made at ${recorded:-an unknown place}, not here ($here): the folder was moved or copied" >&2
  exit 1
fi
