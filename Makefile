# The two commands of the README, plus helpers. Everything runs in .venv (scripts/setup.sh).
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: setup repro plots test test-fast dvc-yaml lab clean-results sweep-queue calibrate

setup:
	bash scripts/setup.sh

## The main job: regenerate every table and figure (offline simulated default), print the table
## (each method's average FPR95 / AUROC with intervals, <= 100 columns; `dvc metrics show` has them all).
## Each stage's time goes to results/stage_times.tsv (ood_study/stage_times.py).
repro: setup
	set -o pipefail; dvc repro 2>&1 | python -m ood_study.stage_times --tsv results/stage_times.tsv
	python -m ood_study.final_table

## The sweeps and figures as one page that draws offline: dvc_plots/index.html (vega inlined by the set-up,
## .dvc/config's plots.html_template). `dvc plots diff main <experiment>` writes the same page for two revisions.
plots: setup
	dvc plots show

## Refit the simulated world's OOD sets to MCM's and NegLabel's published results (docs/simulation.md,
## protocol): rewrites the ood_sets block of params.yaml and calibration/simulation_fit.json. `repro` never
## runs it: the fitted block is a committed parameter.
calibrate: setup
	python -m ood_study.calibrate

## The tests: unit tests, notebook smoke tests, dvc repro --dry, dvc dag.
test:
	bash scripts/test.sh

## The inner loop: ruff and every test not marked e2e or slow (no dvc repro, torchrun, browser, queues,
## papermill, tiny project or whole-corpus simulator); `make test` runs them all.
test-fast:
	ruff check ood_core ood_study tests benchmarks notebooks
	python -m pytest -m "not e2e and not slow" -q

## Regenerate dvc.yaml from ood_study/pipeline.py and ood_study/ablations.py (commit the result).
dvc-yaml:
	python -m ood_study.pipeline

## JupyterLab on the project's kernel (the notebooks find the project root themselves).
lab: setup
	jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

## An ablation grid of params.yaml as queued DVC experiments: make sweep-queue SWEEP=tau JOBS=2
## (SWEEP: an ablation of ood_study/ablations.py that declares queued keys: tau, temperature, groups, selection). The notebooks stay the default.
SWEEP ?= tau
JOBS ?= 2
sweep-queue:
	python -m ood_study.queue_sweep $(SWEEP) --jobs $(JOBS)

clean-results:
	rm -rf results metrics
