# The two commands of the README:
#   make report [SOURCE=/var/lib/docker|host.layerlab] [OUT=reports]   render the notebooks to HTML
#   make test                                                          run the test suite
# Both install layerlab into a virtual environment (.venv) first. To open the notebooks in JupyterLab
# (they read the sample; set `source` in their parameters cell for another):
#   make lab

PYTHON ?= python3
VENV ?= .venv
SOURCE ?= sample
OUT ?= reports
PYTEST_ARGS ?=
# e.g. --no-browser, or --allow-root (JupyterLab refuses to run as root without it)
LAB_ARGS ?=

BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)

.PHONY: report test lab install clean

report: $(VENV)/.installed
	$(BIN)/layerlab report $(SOURCE) -o $(OUT)

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lab: $(VENV)/.installed
	$(BIN)/jupyter lab $(LAB_ARGS) notebooks/

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py layerlab/sources/layerfiles/_fastwalk.c layerlab/sources/layerfiles/_tarscan.c \
		layerlab/sources/registry/_storagescan.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lab]'
	touch $@

clean:
	rm -rf $(VENV) $(OUT)
