# The two commands: `make demo` runs the product, `make test` runs the suite.
# Both build .venv with the machine's python3 and install the pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test test-browser docs-screenshots lint install serve clean gettext messages translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when a requirements file changes.
$(VENV)/.installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: translations

# Translations (docs/translating.md). GNU gettext comes from Debian like chromium: makemessages needs
# xgettext, compilemessages msgfmt. The compiled .mo files are built here, never committed.
MAKEMESSAGES_IGNORE := --ignore='tests/*' --ignore='benchmarks/*' --ignore='docs/*' --ignore='staticfiles/*' \
	--ignore='node_modules/*' --ignore='scripts/*'
gettext:
	@command -v msgfmt >/dev/null && command -v xgettext >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq gettext >/dev/null)

translations: gettext $(VENV)/.installed
	$(BIN)/python manage.py compilemessages --ignore=.venv --ignore=node_modules --verbosity=0

# After marking or changing strings: refresh every language's .po, then translate what is new.
messages: gettext $(VENV)/.installed
	for lang in $$(ls locale); do \
		$(BIN)/python manage.py makemessages -l $$lang --no-location --no-obsolete $(MAKEMESSAGES_IGNORE) && \
		$(BIN)/python manage.py makemessages -d djangojs -l $$lang --no-location --no-obsolete $(MAKEMESSAGES_IGNORE); \
	done

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	$(BIN)/python manage.py generate_work_orders
	$(BIN)/python manage.py rollup_utilisation
	@echo "Serving on http://$(HOST):$(PORT)/ with the RTLS simulator moving the equipment (Ctrl-C stops it)"
	$(BIN)/python manage.py demo_serve --noreload $(HOST):$(PORT)

# Three pytest calls: the suite, in TEST_PROCESSES parallel processes (pytest-xdist; each has its own test
# database, test_<name>_gw0..., and its own Redis database, REDIS_URL's number plus its index: tests/conftest.py);
# the fault tests (they kill workers and connections on the real PostgreSQL, Redis and Mosquitto, and skip
# without them); the browser tests in Debian's chromium. The last two run one test at a time.
TEST_PROCESSES ?= 2
test: install
	$(BIN)/python -m pytest -n $(TEST_PROCESSES)
	$(BIN)/python -m pytest -m faults
	$(MAKE) test-browser

# axe-core for the browser tests' accessibility checks (docs/accessibility.md): pinned in package-lock.json,
# installed from the npm registry when the lock file changes; never fetched at run time.
node_modules/.package-lock.json: package.json package-lock.json
	@command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq npm >/dev/null)
	npm ci --no-audit --no-fund

# Browser tests drive Debian's chromium; they run in their own pytest call (docs/design.md §7).
test-browser: install node_modules/.package-lock.json
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)
	DJANGO_ALLOW_ASYNC_UNSAFE=1 $(BIN)/python -m pytest -m browser

# Refresh the README's screenshots on purpose (a plain test run writes nothing tracked).
docs-screenshots: install
	REFRESH_SCREENSHOTS=1 $(MAKE) test-browser

# ruff, then the architecture's import contracts (.importlinter, docs/architecture.md).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_translations.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache node_modules
