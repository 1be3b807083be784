#!/usr/bin/env bash
# The project's test command: ruff (pyflakes, import order) over the code, tests and notebooks,
# unit tests, papermill smoke tests of every notebook, then DVC's own checks of dvc.yaml.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
export PATH="$PWD/.venv/bin:$PATH" HF_HUB_OFFLINE=1

echo "[test] ruff check ood_core ood_study tests benchmarks notebooks"
ruff check ood_core ood_study tests benchmarks notebooks || exit 1
python -m pytest "$@"
rc=$?
if [ "$rc" = 5 ]; then
  echo "pytest collected no tests (exit 5): the test paths or markers select nothing" >&2
  exit 1
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
echo "[test] dvc repro --dry --force (every stage resolves; nothing runs)"
dvc repro --dry --force >/tmp/ood_core_dvc_dry.log || { cat /tmp/ood_core_dvc_dry.log; exit 1; }
grep -c "^Running stage" /tmp/ood_core_dvc_dry.log | sed 's/^/[test] stages in a full run: /'
echo "[test] dvc dag"
dvc dag --md >/dev/null || exit 1
echo "[test] all checks passed"
