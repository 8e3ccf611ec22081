"""Browser tests: Debian's Chromium driven by Playwright (Python).

Run them with ``pytest -m browser tests/browser``; they skip, saying why,
when ``/usr/bin/chromium`` or the ``playwright`` package is missing
(``scripts/browser-setup.sh`` installs both).  Playwright's own browser
download (``playwright install``) is never used: the browser is launched
with ``executable_path=/usr/bin/chromium`` and the flags below
(docs: /work/shared/reference/jupyter-toolchain.md, B3 and Part 2 section 4).

Every wait is on what the page shows (a kernel idle, a prompt numbered, an
output present), bounded; a long job (run all cells) fails only when it
stops making progress, never because a loaded machine is slow.  A failing
test leaves a screenshot and the browser's console in a folder under the
pytest temporary directory (its path is printed in the failure report).
Every server started here is stopped at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FIXTURE_NOTEBOOKS = REPO / "tests" / "fixtures" / "notebooks"
#: Debian's chromium (VFIOLAB_CHROMIUM names another binary)
CHROMIUM = Path(os.environ.get("VFIOLAB_CHROMIUM", "/usr/bin/chromium"))
#: --no-sandbox: Chromium refuses to run as root without it; the others keep
#: it off the network and away from the user's profile and /dev/shm
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-default-apps", "--disable-extensions"]
#: upper bounds (seconds) for the waits
LAB_START = 180          # a bound under load: the loop returns as soon as Lab answers
BUILD = 300


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: drives Debian's chromium with Playwright (skips itself when "
        "/usr/bin/chromium or the playwright package is missing)")


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the Python package 'playwright' is not installed in this venv "
                    "(run scripts/browser-setup.sh)")
    return sync_playwright


def need_chromium():
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (Debian's package 'chromium'); "
                    f"run scripts/browser-setup.sh")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless.  Playwright starts it with a fresh
    temporary --user-data-dir of its own (removed when it closes); each
    test then opens its own context."""
    need_chromium()
    sync_playwright = _playwright()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                              args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


# --------------------------------------------------------------------------
# Processes
# --------------------------------------------------------------------------

def jupyter_env(runtime: Path) -> dict:
    """The Makefile's Jupyter variables (side files in .home/), a private
    runtime dir, vfiolab importable in kernels, no forced matplotlib backend."""
    env = dict(os.environ)
    home = REPO / ".home"
    for var, sub in (("JUPYTER_CONFIG_DIR", "jupyter_config"),
                     ("JUPYTER_DATA_DIR", "jupyter_data"), ("IPYTHONDIR", "ipython"),
                     ("MPLCONFIGDIR", "mpl")):
        env.setdefault(var, str(home / sub))
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    env["JUPYTER_RUNTIME_DIR"] = str(runtime)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env.pop("MPLBACKEND", None)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]]
                                                       if env.get("PYTHONPATH") else []))
    return env


def lab_hide_globs() -> str:
    """The ``--ContentsManager.hide_globs=...`` option ``make lab`` gives
    Jupyter (the Makefile's LAB_HIDE), so the tests see the file browser a
    learner sees."""
    for line in (REPO / "Makefile").read_text().splitlines():
        if line.startswith("LAB_HIDE"):
            value = line.split(":=", 1)[1].strip()
            return value.replace('="', "=", 1).rstrip('"')
    return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM the process group we started (the server and its kernels),
    SIGKILL it after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def shot(page, name: str) -> None:
    """Save a screenshot to $VFIOLAB_BROWSER_SHOTS/NAME.png when that is set."""
    folder = os.environ.get("VFIOLAB_BROWSER_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True, timeout=10_000)
        except Exception:
            pass


@pytest.fixture
def screenshot():
    """shot(page, name), as a fixture (test modules do not import conftest)."""
    return shot


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (``item.rep_call``), so
    fixtures can tell at teardown whether the test failed."""
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


@pytest.fixture
def context_options() -> dict:
    """Options of the browser context the ``page`` fixture opens (a test
    module overrides this fixture to go offline, for instance)."""
    return {"viewport": {"width": 1400, "height": 1800}}


@pytest.fixture
def page(request, browser, tmp_path_factory, context_options):
    """A page in a fresh browser context (1400 x 1800) whose console
    messages and page errors are recorded (``page.console_log``,
    ``page.page_errors``).  When the test fails, the page's screenshot and
    the console go to ``<pytest tmp>/browser-failures/<test name>/``
    (``screenshot.png``, ``console.txt``), and the folder is named in the
    report."""
    ctx = browser.new_context(**context_options)
    pg = ctx.new_page()
    log: list[str] = []
    errors: list[str] = []
    pg.on("console", lambda m: log.append(f"[{m.type}] {m.text}"))
    pg.on("pageerror", lambda e: (errors.append(str(e)), log.append(f"[pageerror] {e}")))
    pg.console_log = log
    pg.page_errors = errors
    try:
        yield pg
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
            folder = tmp_path_factory.getbasetemp() / "browser-failures" / safe
            folder.mkdir(parents=True, exist_ok=True)
            try:
                pg.screenshot(path=str(folder / "screenshot.png"), full_page=True,
                              timeout=15_000)
            except Exception as exc:                    # the page may be gone
                log.append(f"(no screenshot: {exc})")
            (folder / "console.txt").write_text("\n".join(log) + "\n")
            rep.sections.append(("browser", f"screenshot and console in {folder}"))
        ctx.close()


@pytest.fixture
def bar_notebook() -> Path:
    """The BAR notebook (notebooks/03-*.ipynb with a BarPanel) once it
    exists, else the fixture notebook showing a BarPanel."""
    for nb in sorted((REPO / "notebooks").glob("03-*.ipynb")):
        text = nb.read_text(encoding="utf-8")
        if "BarPanel(" in text or "bar_panel(" in text:
            return nb
    return FIXTURE_NOTEBOOKS / "02-bar-panel.ipynb"


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory):
    """JupyterLab on 127.0.0.1, a free port, no token, serving a scratch
    copy of the repository's notebooks (Lab autosaves; the copies take it).

    Yields (base_url, root_dir).  The copy sits at the same depth as the
    original (ROOT/notebooks/NAME), other top-level folders are symlinked,
    so relative paths in the notebooks still resolve."""
    need_chromium()
    _playwright()
    root = tmp_path_factory.mktemp("lab-root")
    for entry in REPO.iterdir():
        if entry.name in ("notebooks", ".git", ".venv", ".home", "site", ".pytest_cache",
                          ".hypothesis"):
            continue
        (root / entry.name).symlink_to(entry)
    (root / "notebooks").mkdir()
    state = tmp_path_factory.mktemp("lab-state")
    settings = state / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    # no "get notified about Jupyter news?" toast over the notebook
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port = free_port()
    log = open(state / "lab.log", "wb")
    hide = lab_hide_globs()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root",
           "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           "--IdentityProvider.token=", "--ServerApp.password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}",
           f"--LabApp.user_settings_dir={state / 'user-settings'}",
           f"--LabApp.workspaces_dir={state / 'workspaces'}",
           "--LabApp.expose_app_in_browser=True"] + ([hide] if hide else [])
    proc = subprocess.Popen(cmd, cwd=root, env=jupyter_env(state / "runtime"), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LAB_START
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n"
                                   + (state / "lab.log").read_text(errors="replace")[-3000:])
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer on {base} within {LAB_START} s:\n"
                                   + (state / "lab.log").read_text(errors="replace")[-3000:])
            time.sleep(0.25)
        yield base, root
    finally:
        stop(proc)
        log.close()


@pytest.fixture(scope="session")
def static_site(tmp_path_factory):
    """The fixture notebooks with the kernel-free views (the BAR slider, the
    DMA switch), built as the site is (scripts/build_site.py, run as a
    program: a Sphinx book with navigation and search)."""
    out = tmp_path_factory.mktemp("site")
    nbs = [FIXTURE_NOTEBOOKS / "01-static-bar.ipynb", FIXTURE_NOTEBOOKS / "03-static-dma.ipynb"]
    env = jupyter_env(tmp_path_factory.mktemp("runtime"))
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "build_site.py"), *map(str, nbs),
                        "--out", str(out), "--timeout", "120"],
                       env=env, capture_output=True, text=True, timeout=BUILD)
    assert r.returncode == 0, r.stdout + r.stderr
    return out

