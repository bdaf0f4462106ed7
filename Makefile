# Bank CRM back office: two commands from a fresh clone.
#
#   make run    venv + install + translations + database + roles + demo data, then serve on
#               http://127.0.0.1:8080 (the first run prints and keeps the logins)
#   make test   venv + install + translations, then the test suite (PYTEST_ARGS passed through)
#
# Only Python 3.11 is needed. Every step is safe to repeat: requirements are re-installed only
# when requirements.txt changed, the demo bank is loaded only on the first run.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app wsgi
PYBABEL := $(VENV)/bin/pybabel
# A copy of the requirements.txt that was last installed: a different file means reinstall.
INSTALLED := $(VENV)/requirements.installed
INSTALLED_DEV := $(VENV)/requirements-dev.installed

HOST := 127.0.0.1
PORT := 8080
DEMO_CUSTOMERS ?= 2000
DEMO_SEED ?= 42
PYTEST_ARGS ?=

INSTANCE := $(or $(CRM_INSTANCE_PATH),instance)
LOGINS := $(INSTANCE)/first-run-logins.txt

TRANSLATIONS := backoffice/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

# python3.11, or python3 when that is 3.11 (evaluated only when the venv is created).
PYTHON ?= $(shell for p in python3.11 python3; do \
	$$p -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)

.PHONY: help run test lint worker bench install install-dev compile-translations translations clean distclean

help:
	@echo "make run          set up (first run: demo data) and serve on http://$(HOST):$(PORT)"
	@echo "make test         lint, then the test suite in random order (PYTEST_ARGS='-k scope' to select)"
	@echo "make lint         ruff, with the rules in ruff.toml"
	@echo "make worker       run an RQ worker (needs REDIS_URL)"
	@echo "make bench        run every script in benchmarks/"
	@echo "make translations extract new strings into the .po catalogues and compile them"
	@echo "make clean        remove caches, compiled catalogues and screenshots (distclean: + .venv)"

# --- environment ----------------------------------------------------------------------------

$(PY):
	@if [ -z "$(PYTHON)" ]; then
		echo "make: Python 3.11 is needed (python3.11, or python3 being 3.11, on PATH)" >&2
		exit 1
	fi
	echo "== creating $(VENV) with $(PYTHON)"
	$(PYTHON) -m venv $(VENV)

install: $(PY)
	@if ! cmp -s requirements.txt $(INSTALLED); then
		echo "== installing requirements.txt into $(VENV)"
		$(PY) -m pip install --quiet --upgrade pip
		$(PY) -m pip install --quiet -r requirements.txt
		cp requirements.txt $(INSTALLED)
	fi

# Tests, benchmarks and lint on top of the runtime (requirements-dev.txt includes requirements.txt).
install-dev: install
	@if ! cat requirements.txt requirements-dev.txt | cmp -s - $(INSTALLED_DEV); then
		echo "== installing requirements-dev.txt into $(VENV)"
		$(PY) -m pip install --quiet -r requirements-dev.txt
		cat requirements.txt requirements-dev.txt > $(INSTALLED_DEV)
	fi

# The .mo files are not in git: every setup path compiles them.
compile-translations: $(MO_FILES)

%/LC_MESSAGES/messages.mo: %/LC_MESSAGES/messages.po | install
	$(PYBABEL) compile --statistics -i $< -o $@

# Pick up new strings from the sources and Flask-AppBuilder (see babel.cfg), then compile.
translations: install
	@pot=$$(mktemp --suffix=.pot)
	fab=$$($(PY) -c 'import flask_appbuilder, os; print(os.path.dirname(flask_appbuilder.__file__))')
	$(PYBABEL) -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_pgettext:1c,2 -o "$$pot" . "$$fab"
	$(PYBABEL) update -i "$$pot" -d $(TRANSLATIONS) -l zh --no-fuzzy-matching -w 100
	rm -f "$$pot"
	$(MAKE) --no-print-directory compile-translations

# --- the app --------------------------------------------------------------------------------

# First run: `crm init` creates the admin with a generated password and `crm demo` creates the
# demo staff; both print their logins once, so they are kept in $(LOGINS) (mode 600) and shown
# again on every later run. A new database (its admin just created) starts a new file.
run: install compile-translations
	@umask 077
	mkdir -p "$(INSTANCE)"
	echo "== upgrading the database"
	$(FLASK) db upgrade
	echo "== roles and admin user (flask crm init)"
	init_out=$$($(FLASK) crm init)
	echo "$$init_out"
	admin=$$(sed -n 's|^admin user created: \(.*\)$$|\1|p' <<<"$$init_out")
	if [ -n "$$admin" ]; then
		{ echo "# First-run logins kept by 'make run'. Change these passwords before real use."
		  echo "admin login (username / password / role / branch):"
		  echo "  $$admin / Admin / -"; } > "$(LOGINS)"
	elif [ ! -f "$(LOGINS)" ]; then
		{ echo "# The admin user existed before 'make run' kept logins: its password is not known here."
		  echo "# Set a new one with: $(FLASK) fab reset-password --username admin"; } > "$(LOGINS)"
	fi
	if ! grep -q '^demo logins' "$(LOGINS)"; then
		echo "== first run: loading demo data ($(DEMO_CUSTOMERS) customers, seed $(DEMO_SEED))"
		demo_out=$$(mktemp)
		if $(FLASK) crm demo --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED) 2>&1 | tee "$$demo_out"; then
			sed -n '/^demo logins/,$$p' "$$demo_out" >> "$(LOGINS)"
		elif grep -q 'already' "$$demo_out"; then
			echo "demo logins: none (the database already held data, so no demo was loaded)" >> "$(LOGINS)"
		else
			rm -f "$$demo_out"
			echo "make: loading demo data failed (see above); 'make run' will try again" >&2
			exit 1
		fi
		rm -f "$$demo_out"
	fi
	chmod 600 "$(LOGINS)"
	echo
	echo "================================================================================"
	echo " Bank CRM back office: http://$(HOST):$(PORT)"
	echo " Logins (kept in $(LOGINS)):"
	sed 's/^/   /' "$(LOGINS)"
	echo "================================================================================"
	echo
	exec $(FLASK) run --host $(HOST) --port $(PORT) --no-reload

worker: install compile-translations
	$(FLASK) crm worker

# Benchmarks that write get their database only from BENCH_DATABASE_URL (a scratch database:
# one holding customers no benchmark loaded is refused); without it they are skipped.
BENCH_DATABASE_URL ?= $(CRM_BENCH_DATABASE_URL)
bench: install-dev compile-translations
	@shopt -s nullglob
	scripts=()
	for script in benchmarks/*.py; do [[ $$(basename "$$script") == _* ]] || scripts+=("$$script"); done
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmarks in benchmarks/"; exit 0; fi
	for script in "$${scripts[@]}"; do
		echo "== $$script"
		status=0
		CRM_BENCH_DATABASE_URL="$(BENCH_DATABASE_URL)" PYTHONPATH=$(CURDIR) $(PY) "$$script" || status=$$?
		if [ $$status -eq 3 ]; then echo "   skipped: needs BENCH_DATABASE_URL"; elif [ $$status -ne 0 ]; then exit $$status; fi
	done

# --- tests ----------------------------------------------------------------------------------

# Lint first (seconds), then the suite, in a shuffled order (modules shuffled, and the tests
# within each), so that a test leaning on data another test left behind fails instead of passing
# by luck. The default seed is one whose whole run was checked; `TEST_SEED=random` draws a new
# one (printed) to look for more, `TEST_SEED=N` repeats an order, `TEST_SEED=` runs in file order.
# Moving the default to a new seed is a change like any other: after a whole run with it passes.
TEST_SEED ?= 20261207
test: install-dev compile-translations lint
	@seed="$(TEST_SEED)"
	if [ "$$seed" = random ]; then seed=$$(( (RANDOM << 15 | RANDOM) % 1000000 )); fi
	if [ -z "$$seed" ]; then
	  $(PY) -m pytest -q $(PYTEST_ARGS)
	else
	  echo "== tests in shuffled order, seed $$seed (repeat with: make test TEST_SEED=$$seed)"
	  $(PY) -m pytest -q -p random_order --random-order-bucket=module --random-order-seed=$$seed $(PYTEST_ARGS)
	fi

lint: install-dev
	$(VENV)/bin/ruff check --quiet .

# --- housekeeping (instance/ holds the database and secrets: never removed here) ----------

clean:
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -print0 | xargs -0 rm -rf
	rm -rf .pytest_cache tests/screenshots $(MO_FILES)

distclean: clean
	rm -rf $(VENV)
