# vfiolab: two commands do everything on a fresh machine.
#   make lab    set up, then open the workbook in JupyterLab
#   make test   set up (QEMU included, where apt-get can), then run every test
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Keep Jupyter, IPython and matplotlib side files inside the checkout.
export JUPYTER_CONFIG_DIR := $(CURDIR)/.home/jupyter_config
export JUPYTER_DATA_DIR := $(CURDIR)/.home/jupyter_data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/.home/jupyter_runtime
export IPYTHONDIR := $(CURDIR)/.home/ipython
export MPLCONFIGDIR := $(CURDIR)/.home/mpl
export JUPYTER_PLATFORM_DIRS := 1
unexport MPLBACKEND

.PHONY: lab test setup qemu browser html bench clean help
help:
	@echo "make lab    - set up and open the workbook in JupyterLab"
	@echo "make test   - set up (including QEMU) and run every test"
	@echo "make html   - execute the notebooks and write the static site to site/"
	@echo "make bench  - run the benchmarks and print their figures"

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(STAMP)

# Real QEMU for the reference tests (Debian's qemu-system-x86); skipped
# quietly when this user cannot install packages: those tests then skip.
qemu:
	@command -v qemu-system-x86_64 >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing qemu-system-x86 from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-system-x86 >/dev/null; \
	  else echo "qemu-system-x86_64 not found and cannot install it: live tests will skip"; fi; }

# Debian's chromium and the playwright package, for the browser tests
browser: setup
	scripts/browser-setup.sh

html: setup
	$(BIN)/python scripts/build_site.py

# Jupyter refuses to run as root without --allow-root (CI and containers run as root)
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	cd notebooks && ../$(BIN)/jupyter lab $(ALLOW_ROOT) 00-the-question.ipynb

NBVAL := --nbval --nbval-current-env --nbval-cell-timeout=120 \
         --nbval-sanitize-with notebooks/nbval-sanitize.cfg

test: setup qemu browser
	$(BIN)/python -m pytest -q -p no:cacheprovider
	$(BIN)/python -m pytest -q -p no:cacheprovider $(NBVAL) notebooks/

bench: setup
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .home site .pytest_cache
