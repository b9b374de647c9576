# Two commands on a fresh machine with only Python 3.10+:
#   make lab    install everything into .venv and open the learning path in JupyterLab
#   make test   install everything (with test tools) into .venv and run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PYTEST_ARGS ?= -n auto --dist loadfile

.PHONY: lab test install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e ".[test]"
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

lab: $(VENV)/.installed
	$(BIN)/python -m jupyter lab notebooks/01_derivatives_and_the_chain_rule.ipynb

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed-test
	for b in benchmarks/*.py; do case $$b in */_*) ;; *) $(BIN)/python $$b ;; esac; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
