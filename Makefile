# Two commands do all set-up (see README):
#   make demo   create .venv, install the project, run the main job on sample inputs into results/
#   make test   the same install plus test extras, browser-test dependencies, then the whole test suite
#               (SKIP_BROWSER=1 make test: no Chromium, no Playwright, the browser test skipped)
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
PIP     = $(PY) -m pip --disable-pip-version-check

.PHONY: demo test install install-test notebooks lab bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[all]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q -e ".[all,test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

demo: $(VENV)/.installed
	$(PY) -m restoration_lib demo --out results

test: $(VENV)/.installed-test
	@if [ "$(SKIP_BROWSER)" = 1 ]; then echo "SKIP_BROWSER=1: the browser test and its dependencies are skipped"; \
	else bash scripts/install_browser_deps.sh $(PY); fi
	SKIP_BROWSER=$(SKIP_BROWSER) $(PY) -m pytest -q -p no:cacheprovider --timeout=900

lab: $(VENV)/.installed
	$(PY) -m jupyter lab notebooks/

bench: $(VENV)/.installed
	for b in benchmarks/*.py; do case $$b in */_*) ;; *) echo "== $$b"; $(PY) $$b;; esac; done

clean:
	rm -rf $(VENV) results .pytest_cache
