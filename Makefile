# The two set-up commands of the README: `make demo` and `make test`. Both create .venv and install
# everything on a fresh machine (Python 3.11+, no GPU, package registries only).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.umo-installed
DEMO_TEXT := $(shell cat examples/hello.txt)

.PHONY: demo test install clean train-default serve

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch is pinned: this exact CPU build installs from the local wheel cache; any other version
	# would pull a multi-GB CUDA build. The learned model (next release) needs it.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/umo say "$(DEMO_TEXT)" -o out/say
	$(BIN)/umo animate tests/fixtures/jfk.flac --transcript examples/jfk.txt -o out/jfk
	$(BIN)/umo animate tests/fixtures/facegood/1114_3_16.wav -o out/audio-only
	@echo
	@echo "Open out/say/preview.html, out/jfk/preview.html and out/audio-only/preview.html in a browser."

test: $(STAMP)
	bash scripts/install-browser.sh
	bash scripts/install-gltf-validator.sh
	$(BIN)/python -m pytest -q

# The bundled model: synthetic corpus + FACEGOOD takes -> stages 1, 2, 3, 5 (mouth head) -> src/umo/models/weights/.
# Resumable (run again to continue). See scripts/train_default.sh for GPU scaling.
train-default: $(STAMP)
	bash scripts/train_default.sh

# The live page and the WebSocket stream (docs/protocol.md) on http://127.0.0.1:8765/
serve: $(STAMP)
	$(BIN)/umo serve

clean:
	rm -rf out .pytest_cache
