# audio3a: `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/audio3a process samples/echo_mic_16k.wav --far samples/echo_far_16k.wav -o out/echo_mic_processed.wav
	$(VENV)/bin/audio3a process samples/noisy_speech_16k.wav -o out/noisy_speech_processed.wav
	@echo "demo output: out/echo_mic_processed.wav and out/noisy_speech_processed.wav"

test: $(VENV)/.installed
	$(PY) -m pytest tests

bench: $(VENV)/.installed
	$(PY) -m pytest bench --benchmark-enable --benchmark-only -p no:cacheprovider

clean:
	rm -rf $(VENV) out results .pytest_cache .benchmarks
