# kerasdl — every target sets up what it needs on a fresh machine.
#
#   make demo    the main job: mismatched train/dev/test on Fashion-MNIST
#   make test    the import rule (lint-imports) and the fast test suite (pytest -m "not slow")
#   make slow    the training-heavy tests
#   make bench   the benchmarks (ratios against the Keras built-ins)
#   make test-backends  the reusable parts' tests under JAX and PyTorch (BACKENDS="jax torch")
#
# ACCEL=gpu or ACCEL=tpu swaps TensorFlow for the accelerator build.

PYTHON ?= python3
VENV ?= .venv
ACCEL ?= cpu
BIN := $(VENV)/bin
STAMP := $(VENV)/.kerasdl-$(ACCEL)-installed
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo test slow bench lint data venv tensorboard clean test-backends screenshots

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
	@PYTHON_FOR_DATA=$(BIN)/python bash scripts/install_data.sh

demo: venv data
	$(BIN)/python -m experiments.mismatch $(DEMO_ARGS)

# The README's pictures of the dashboards: quick runs of the main job and two other experiments,
# TensorBoard on 127.0.0.1 and Debian's Chromium; one PNG per dashboard in docs/screenshots/<experiment>/.
screenshots: venv data
	$(BIN)/python -m experiments screenshots --out docs/screenshots

test: venv data
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)

slow: venv data
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

bench: venv data venv-gensim
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# The reusable parts (kerasdl.nn, kerasdl.scratch) under the other Keras backends. Each backend gets
# its own venv without TensorFlow (.venv-jax, .venv-torch): kerasdl installed with --no-deps, plus the
# extra [jax] or [torch] of setup.cfg, read from there (kerasdl's own dependencies include TensorFlow).
# torch is first pinned to the CPU build this machine keeps on disk; a plain range would take a CUDA
# build of several GB. --noconftest: tests/conftest.py serves the TensorFlow suite (it imports
# pipelines); tests/backends/plugin.py turns on JAX's float64 and names the backend in the header.
BACKENDS ?= jax torch
BACKEND_TESTS ?= tests/kerasdl/nn tests/kerasdl/scratch tests/backends tests/benchmarks/test_backends_benchmark.py
TORCH_CPU ?= torch==2.13.0
EXTRA = $(PYTHON) -c 'import configparser, sys; c = configparser.ConfigParser(); c.read("setup.cfg"); \
	print(c["options.extras_require"][sys.argv[1]])'

.venv-%/.kerasdl-installed: setup.cfg pyproject.toml
	rm -rf .venv-$*
	$(PYTHON) -m venv .venv-$*
	$(EXTRA) $* > .venv-$*/requirements.txt
	$(if $(filter torch,$*),.venv-$*/bin/pip install --quiet '$(TORCH_CPU)')
	.venv-$*/bin/pip install --quiet -r .venv-$*/requirements.txt
	.venv-$*/bin/pip install --quiet --no-deps -e .
	touch $@

test-backends: $(BACKENDS:%=.venv-%/.kerasdl-installed)
	@for backend in $(BACKENDS); do \
		echo "== KERAS_BACKEND=$$backend"; \
		KERAS_BACKEND=$$backend .venv-$$backend/bin/python -m pytest --noconftest -p tests.backends.plugin \
			-n auto --dist loadfile $(BACKEND_TESTS) $(PYTEST_ARGS) || exit 1; \
	done

# gensim's Word2Vec, the reference of benchmarks/embeddings.py, in a venv of its own: gensim 4.3.3 pins
# numpy < 2, which kerasdl's TensorFlow cannot share. scripts/gensim_reference.py runs there, never importing kerasdl.
.PHONY: venv-gensim
venv-gensim: .venv-gensim/.gensim-installed

.venv-gensim/.gensim-installed:
	rm -rf .venv-gensim
	$(PYTHON) -m venv .venv-gensim
	.venv-gensim/bin/pip install --quiet 'gensim==4.3.3'
	touch $@

lint: venv
	$(BIN)/ruff check kerasdl pipelines experiments tests benchmarks
	$(BIN)/lint-imports

tensorboard: venv
	$(BIN)/tensorboard --logdir logs --host 127.0.0.1 --port 6006

clean:
	rm -rf $(VENV) $(BACKENDS:%=.venv-%) .venv-gensim build *.egg-info .pytest_cache
