# Two commands on a fresh clone, each installing what it needs first:
#   make demo   the main job: the built-in benchmark, trained and reported (runs/demo/)
#   make test   lint and the test suite (what CI runs)
# On a GPU machine install your CUDA build of torch first and run `make demo TORCH=`.
PYTHON ?= python
TORCH ?= torch==2.13.0
EXTRAS ?= test,extract,viz,tensorboard,deploy

.PHONY: install demo test

install:
	$(if $(TORCH),$(PYTHON) -m pip install --quiet "$(TORCH)")
	$(PYTHON) -m pip install --quiet -e ".[$(EXTRAS)]"

demo: install
	$(PYTHON) -m bharnet demo

test: install
	$(PYTHON) -m ruff check src tests benchmarks tools
	$(PYTHON) -m pytest
