# vfiolab: two commands do everything on a fresh machine.
#   make lab    set up the runtime (no test tools), then open the workbook in JupyterLab
#   make test   add the test tools, QEMU (where apt-get can) and chromium, then run every test
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
TSTAMP  := $(VENV)/.installed-test
# Keep Jupyter, IPython and matplotlib side files inside the checkout.
export JUPYTER_CONFIG_DIR := $(CURDIR)/.home/jupyter_config
export JUPYTER_DATA_DIR := $(CURDIR)/.home/jupyter_data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.home/jupyter_runtime
export IPYTHONDIR := $(CURDIR)/.home/ipython
export MPLCONFIGDIR := $(CURDIR)/.home/mpl
export JUPYTER_PLATFORM_DIRS := 1
unexport MPLBACKEND

.PHONY: lab test setup setup-test qemu browser html bench clean help
help:
	@echo "make lab    - set up and open the workbook in JupyterLab"
	@echo "make test   - set up (including QEMU) and run every test"
	@echo "make html   - execute the notebooks and write the static site to site/"
	@echo "make bench  - run the benchmarks and print their figures"

# The runtime: what the notebooks need (the package and its dependencies).
# It is installed with uv, itself installed from PyPI by pip into the venv:
# uv downloads in parallel and does not byte-compile at install (Python
# compiles a module the first time it is imported), which cut the first
# `make lab` from ~100 s to ~40 s here (docs/setup-time.md).  pip does it
# instead when INSTALLER=pip, when pip is configured with another index or
# find-links (uv reads no pip.conf nor PIP_* variables: docs.astral.sh/uv,
# "Compatibility with pip"), or when uv cannot be installed or fails.
# With PYTHONDONTWRITEBYTECODE set Python never writes .pyc files, so uv
# compiles them at install as pip does.
INSTALLER ?= uv
UV_COMPILE := $(if $(PYTHONDONTWRITEBYTECODE),--compile-bytecode,)
$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
	  "vfiolab needs Python >= 3.11 (numpy 2.4, pandas 3.1, matplotlib 3.11); this is " + sys.version.split()[0])'
	@$(PY) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian/Ubuntu, apt-get install python3-venv" >&2; exit 1; }
	@if [ "$(INSTALLER)" = uv ] && ! $(BIN)/pip config list 2>/dev/null | grep -qE 'index-url|find-links'; then \
	  echo "installing the runtime with uv (from PyPI; INSTALLER=pip to use pip)"; \
	  $(BIN)/pip install --quiet uv && \
	  $(BIN)/uv pip install --quiet $(UV_COMPILE) --python $(BIN)/python -e . && exit 0; \
	  echo "uv failed: installing with pip" >&2; \
	fi; \
	echo "installing the runtime with pip"; \
	$(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e .
	touch $@

# The test tools on top (pytest, nbval, nbclient, playwright, ...).
$(TSTAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(STAMP)
setup-test: $(TSTAMP)

# Real QEMU for the reference tests (Debian's qemu-system-x86); skipped
# quietly when this user cannot install packages: those tests then skip.
qemu:
	@command -v qemu-system-x86_64 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing qemu-system-x86 from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 >/dev/null; \
	  else echo "qemu-system-x86_64 not found and cannot install it: live tests will skip"; fi; }

# Debian's chromium and the playwright package, for the browser tests
browser: setup-test
	scripts/browser-setup.sh

html: setup-test
	$(BIN)/python scripts/build_site.py

# Jupyter refuses to run as root without --allow-root (CI and containers run as root)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# Lab opens on the landing notebook; the test-only files in notebooks/ are
# hidden from its file browser (jupyter_server ContentsManager.hide_globs:
# its defaults plus conftest.py and nbval-sanitize.cfg).
LAB_HIDE := --ContentsManager.hide_globs="['__pycache__','*.pyc','*.pyo','.DS_Store','*~','conftest.py','nbval-sanitize.cfg']"

lab: setup
	cd notebooks && ../$(BIN)/jupyter lab $(ALLOW_ROOT) $(LAB_HIDE) 00-the-question.ipynb

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=120 \
         --nbval-sanitize-with notebooks/nbval-sanitize.cfg

test: setup-test qemu browser
	$(BIN)/python -m pytest -q -p no:cacheprovider
	$(BIN)/python -m pytest -q -p no:cacheprovider $(NBVAL) notebooks/

bench: setup-test
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .home site .pytest_cache
