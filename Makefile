# The two commands of the README, plus helpers. Everything runs in .venv (scripts/setup.sh).
SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export HF_HUB_OFFLINE ?= 1

.PHONY: setup repro test lab clean-results

setup:
	bash scripts/setup.sh

## The main job: regenerate every table and figure (offline simulated default), print the table.
repro: setup
	dvc repro
	dvc metrics show

## The tests: unit tests, notebook smoke tests, dvc repro --dry, dvc dag.
test:
	bash scripts/test.sh

## JupyterLab on the project's kernel (the notebooks find the project root themselves).
lab: setup
	jupyter lab notebooks/ $(if $(filter 0,$(shell id -u)),--allow-root)

clean-results:
	rm -rf results metrics
