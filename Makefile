# Two commands on a fresh machine:  make reproduce   and   make test
# Both create (or reuse) .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# exact versions for this project's reference machines (the package itself asks only torch>=2.1)
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PROFILE ?=
# an image-folder copy of CIFAR-10 (folder or archive) to use instead of torchvision's download, e.g. a mirror's cifar10-jpeg.tar.gz
CIFAR10_IMAGES ?=
SMOKE_OUT := build/smoke

.PHONY: install reproduce test check-sync nbtest pytest smoke export notebooks bench clean

install: $(STAMP)

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(TORCH_PINS)
	$(BIN)/python -m pip install -q -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $(STAMP)

## The main job: every table and figure, for the profile that suits this hardware (PROFILE=smoke|cpu|paper to choose)
reproduce: install
	@mkdir -p outputs/notebooks
	$(BIN)/papermill run_all.ipynb outputs/notebooks/run_all.ipynb $(if $(PROFILE),-p profile $(PROFILE),) $(if $(CIFAR10_IMAGES),-p cifar10_images $(CIFAR10_IMAGES),) --log-output
	@echo "Report: outputs/REPORT.md"

## Everything CI checks
test: install check-sync nbtest pytest smoke

check-sync: install
	$(BIN)/python tools/check_sync.py

nbtest: install
	CSA_PROGRESS=off $(BIN)/nbdev_test --n_workers 1

pytest: install
	CSA_PROGRESS=off $(BIN)/python -m pytest -q tests

smoke: install
	rm -rf $(SMOKE_OUT) && mkdir -p $(SMOKE_OUT)
	$(BIN)/papermill run_all.ipynb $(SMOKE_OUT)/run_all.ipynb -p profile smoke -p out $(SMOKE_OUT) $(if $(CIFAR10_IMAGES),-p cifar10_images $(CIFAR10_IMAGES),) --log-output
	$(BIN)/python tools/check_outputs.py $(SMOKE_OUT) --profile smoke $(if $(CIFAR10_IMAGES),--cifar10-images $(CIFAR10_IMAGES),)

## After editing notebooks: clean them, export the library, regenerate README.md
export: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_clean --fname run_all.ipynb
	$(BIN)/nbdev_export
	$(BIN)/python tools/make_readme.py

## Re-execute the library notebooks in place (from the committed results and the data mirror), so their pictures show on GitHub and in Colab
notebooks: install
	$(BIN)/python tools/execute_notebooks.py
	$(BIN)/python tools/make_readme.py

bench: install
	$(BIN)/python benchmarks/bench_mnist_lt.py
	$(BIN)/python benchmarks/bench_lenet_step.py

clean:
	rm -rf build outputs/notebooks
