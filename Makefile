# Two commands on a fresh machine with only Python 3.10+:
#   make lab    install everything into .venv and open the learning path in JupyterLab
#   make test   install everything (with test tools) into .venv and run the whole test suite
#   make playground  the Playground alone in a web page (Voila, no code shown) on
#               http://127.0.0.1:8866/ (PLAYGROUND_PORT=... for another port)
# and, to check the floors in pyproject.toml (CI runs it after `make test`):
#   make test-lowest  the same suite less the browser tests, in .venv-lowest, where uv has
#                     installed every direct dependency at the lowest version pyproject admits
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST_ARGS ?= -n auto --dist loadfile
LOWEST ?= .venv-lowest

.PHONY: lab test test-lowest install install-test install-lowest install-app playground bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[test]"
	touch $(VENV)/.installed $@

$(VENV)/.installed-app: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[app]"
	touch $(VENV)/.installed $@

# uv (from PyPI, into .venv) builds the lowest-versions environment.
$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install "uv>=0.5"

$(LOWEST)/.installed-test: pyproject.toml | $(BIN)/uv
	rm -rf $(LOWEST)
	$(BIN)/uv venv --no-python-downloads --python $(PYTHON) $(LOWEST)
	$(BIN)/uv pip install --python $(LOWEST)/bin/python --resolution lowest-direct -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-lowest: $(LOWEST)/.installed-test
install-app: $(VENV)/.installed-app

lab: $(VENV)/.installed
	$(BIN)/python -m jupyter lab notebooks/01_derivatives_and_the_chain_rule.ipynb

# Voila serves only on 127.0.0.1 and stops, rather than take another port, if this one is busy.
PLAYGROUND_PORT ?= 8866
playground: $(VENV)/.installed-app
	$(BIN)/python -m voila --no-browser --Voila.ip=127.0.0.1 --port=$(PLAYGROUND_PORT) \
		--Voila.port_retries=0 notebooks/playground_app.ipynb

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-lowest: $(LOWEST)/.installed-test
	$(LOWEST)/bin/python -m pytest $(PYTEST_ARGS) -m "not browser"

bench: $(VENV)/.installed-test
	for b in benchmarks/*.py; do case $$b in */_*) ;; *) $(BIN)/python $$b ;; esac; done

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .hypothesis
