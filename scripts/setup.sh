#!/usr/bin/env bash
# Create .venv at the repository root with everything the project needs, once.
# Re-running is cheap: it installs nothing while pyproject.toml and this script are unchanged (it
# only rewrites the `dvc plots` page template, build/plots/page.html, from files already fetched).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
stamp="$VENV/.ood_core-installed-$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"

# WordNet 3.0 dictionary files (the wild corpus and the simulated benchmark read them).
if [ ! -f /usr/share/wordnet/data.noun ] && [ -z "${WNSEARCHDIR:-}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] installing WordNet 3.0 (Debian package wordnet-base)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wordnet-base >/dev/null
  else
    echo "[setup] WordNet 3.0 not found: run 'sudo apt-get install wordnet-base'," >&2
    echo "        or set WNSEARCHDIR to a folder holding data.noun (e.g. NLTK's corpora/wordnet)." >&2
    exit 1
  fi
fi

# A .venv moved or copied with the folder still points at its old place: rebuild it (never
# through a link: a linked .venv is another folder's environment, so only say so).
if [ -e "$VENV" ] && ! bash scripts/venv_check.sh "$VENV"; then
  if [ -L "$VENV" ]; then
    echo "[setup] $VENV is a link to $(readlink "$VENV"); not rebuilding it. Remove the link and re-run." >&2
    exit 1
  fi
  echo "[setup] rebuilding $VENV here"
  rm -rf "$VENV"
fi
if [ -x "$VENV/bin/python" ] && [ ! -L "$VENV" ]; then
  installed_at=$(cd / && "$VENV/bin/python" -c 'import ood_study, os; print(os.path.dirname(os.path.dirname(os.path.realpath(ood_study.__file__))))' 2>/dev/null || true)
  if [ -n "$installed_at" ] && [ "$installed_at" != "$(pwd -P)" ]; then
    echo "[setup] $VENV runs the code of $installed_at, not of this folder: reinstalling it here"
    rm -f "$VENV"/.ood_core-installed-*
  fi
fi
if [ ! -f "$stamp" ]; then
  echo "[setup] creating $VENV (torch is a ~6 GB install; a few minutes)"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  # torch/torchvision pinned to the releases the project is tested with.
  "$VENV/bin/python" -m pip install -q torch==2.14.1 torchvision==0.29.1
  "$VENV/bin/python" -m pip install -q -e ".[all]"
  # The notebooks run on this named kernel (papermill --kernel ood-core).
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name ood-core --display-name "Python (ood_core)" >/dev/null
  rm -f "$VENV"/.ood_core-installed-*
  touch "$stamp"
  echo "[setup] done"
fi

# The page template of `dvc plots show` with vega, vega-lite and vega-embed inlined (npm packages at
# pinned versions, fetched once with npm into the git-ignored build/plots/), so the plots draw offline.
# Without npm it warns and keeps DVC's CDN scripts: nothing else needs it.
"$VENV/bin/python" -m ood_study.plots_page
