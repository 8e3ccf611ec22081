#!/usr/bin/env bash
# Install what the browser tests (tests/browser/, pytest -m browser) need on
# a clean Debian machine:
#   * Debian's Chromium (/usr/bin/chromium), driven by Playwright through
#     executable_path -- never `playwright install`, whose browser download
#     is not available here;
#   * the Python package playwright, into the project's venv.
# Safe to run again: it installs only what is missing.  When it cannot
# (no root, no apt-get, no network) it says so and goes on; the browser
# tests then skip with the reason.  Exit status 1 only without a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PLAYWRIGHT_SPEC=${PLAYWRIGHT_SPEC:-playwright>=1.65}

if [ -x /usr/bin/chromium ]; then
    echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium (apt-get)"
    if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    then echo "chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
    else echo "apt-get could not install chromium: browser tests will skip" >&2
    fi
else
    echo "chromium is missing and this user cannot apt-get it: browser tests will skip" >&2
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "no venv at $VENV (run 'make setup' first)" >&2
    exit 1
fi
if "$VENV/bin/python" -c "import playwright.sync_api" 2>/dev/null; then
    echo "playwright: $("$VENV/bin/python" -m pip show playwright 2>/dev/null | sed -n 's/^Version: //p')"
else
    echo "installing $PLAYWRIGHT_SPEC into $VENV (no 'playwright install': Debian's chromium is used)"
    "$VENV/bin/pip" install --quiet "$PLAYWRIGHT_SPEC" ||
        echo "could not install playwright: browser tests will skip" >&2
fi
