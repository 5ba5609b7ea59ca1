# audio3a: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SAMPLE := samples/noisy_speech_16k.wav

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/audio3a process $(SAMPLE) -o out/demo_processed.wav --far samples/echo_far_16k.wav
	@echo "demo output written to out/demo_processed.wav"

test: $(VENV)/.installed
	$(PY) -m pytest tests

bench: $(VENV)/.installed
	$(PY) -m pytest bench --benchmark-enable --benchmark-only -p no:cacheprovider

clean:
	rm -rf $(VENV) out results .pytest_cache .benchmarks
