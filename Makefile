# kerasdl — every target sets up what it needs on a fresh machine.
#
#   make demo    the main job: mismatched train/dev/test on Fashion-MNIST
#   make test    the import rule (lint-imports) and the fast test suite (pytest -m "not slow")
#   make slow    the training-heavy tests
#   make bench   the benchmarks (ratios against the Keras built-ins)
#
# ACCEL=gpu or ACCEL=tpu swaps TensorFlow for the accelerator build.

PYTHON ?= python3
VENV ?= .venv
ACCEL ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.kerasdl-$(ACCEL)-installed
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test slow bench lint data venv tensorboard clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
ifeq ($(ACCEL),gpu)
	$(BIN)/pip uninstall --yes tensorflow-cpu
	$(BIN)/pip install --quiet 'tensorflow[and-cuda]>=2.21,<2.22'
endif
ifeq ($(ACCEL),tpu)
	$(BIN)/pip uninstall --yes tensorflow-cpu
	$(BIN)/pip install --quiet 'tensorflow-tpu>=2.21,<2.22'
endif
	rm -f $(VENV)/.kerasdl-*-installed
	touch $@

data:
	@bash scripts/install_data.sh

demo: venv data
	$(BIN)/python -m experiments.mismatch $(DEMO_ARGS)

test: venv data
	$(BIN)/lint-imports
	$(BIN)/python -m pytest $(PYTEST_ARGS)

slow: venv data
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: venv data
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

lint: venv
	$(BIN)/ruff check kerasdl pipelines experiments tests benchmarks
	$(BIN)/lint-imports

tensorboard: venv
	$(BIN)/tensorboard --logdir logs --host 127.0.0.1 --port 6006

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
