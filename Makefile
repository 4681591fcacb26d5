# The README's two commands: `make demo` and `make test`. Each sets up the
# project-local environment of the stack first (tools/bootstrap.sh,
# idempotent): STACK=onedl (the default: the maintained fork of the
# OpenMMLab 3.x line, Python 3.12, numpy 2, torch 2.11) or STACK=upstream
# (OpenMMLab's mmcv 2.1 / mmdet 3.3, Python 3.11, numpy 2), each in its own
# virtual environment, e.g. `make test STACK=upstream`.
STACK ?= onedl
VENV ?= .venv-$(STACK)
export STACK VENV
PY := $(VENV)/bin/python
# the suite runs on every core (pytest-xdist; a class's tests stay on one
# worker, so a class's set-up is made once) and names its slowest tests
JOBS ?= auto
PYTEST_ARGS ?=

.PHONY: setup demo test lint format bench clean stack

stack:
	@echo $(STACK)

setup:
	@bash tools/bootstrap.sh

demo: setup
	$(PY) tools/tiny_lvis_demo.py

test: setup
	$(PY) -m pytest tests -n $(JOBS) --dist loadscope --durations=10 $(PYTEST_ARGS)

lint: setup
	$(PY) -m flake8 mmdet_causal tools tests benchmarks configs setup.py
	$(PY) -m isort --check-only --diff mmdet_causal tools tests benchmarks configs setup.py
	$(PY) -m yapf --diff --recursive mmdet_causal tools tests benchmarks configs setup.py

format: setup
	$(PY) -m isort mmdet_causal tools tests benchmarks configs setup.py
	$(PY) -m yapf --in-place --recursive mmdet_causal tools tests benchmarks configs setup.py

bench: setup
	$(PY) benchmarks/bench_head.py

clean:
	rm -rf $(VENV) build *.egg-info work_dirs data/tiny_lvis
