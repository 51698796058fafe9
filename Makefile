# The two commands of the README:
#   make report [SOURCE=/var/lib/docker|host.layerlab] [OUT=reports]   render the notebooks to HTML
#   make test                                                          run the test suite
# Both install layerlab into a virtual environment (.venv) first.

PYTHON ?= python3
VENV ?= .venv
SOURCE ?= sample
OUT ?= reports
PYTEST_ARGS ?=

BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: report test install clean

report: $(VENV)/.installed
	$(BIN)/layerlab report $(SOURCE) -o $(OUT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py layerlab/sources/_fastwalk.c layerlab/sources/_tarscan.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

clean:
	rm -rf $(VENV) $(OUT)
