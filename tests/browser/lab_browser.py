"""The browser tests' harness: JupyterLab with this checkout's extension build, served from a
temporary root with its own Jupyter, Hugging Face and zoo folders, and Debian's chromium driven
through Python playwright (never ``playwright install``).

A test module calls :func:`skip_unless_ready` at import, starts a server with :func:`lab_server`
and a page with :func:`open_page`, and wraps each check in :func:`screenshot_on_failure`.
Screenshots go to $WORKBENCH_SCREENSHOTS (default: a folder under the system temp dir, printed
in the failure).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pytest

from lab_server import ROOT, isolated_env, jupyter_server

CHROMIUM = os.environ.get("WORKBENCH_CHROMIUM", "/usr/bin/chromium")
BUILT = ROOT / "extension" / "labextension"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

KERNEL_IDLE = """() => {
  const kernel = window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel;
  return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""


def skip_unless_ready():
    """Skip the calling module without chromium, a built extension, playwright, JupyterLab or
    ipywidgets; return ``playwright.sync_api``."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no chromium at {CHROMIUM} (bash scripts/setup-system.sh)", allow_module_level=True)
    if not (BUILT / "package.json").is_file():
        pytest.skip("extension/labextension is not built (bash scripts/build-extension.sh)", allow_module_level=True)
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("jupyterlab")
    pytest.importorskip("ipywidgets")
    return sync_api


@contextlib.contextmanager
def lab_server(home: Path, root: Path, cache: Path, env_extra: dict[str, str] | None = None, app: str = "lab"):
    """``jupyter lab`` (``app="notebook"``: Jupyter Notebook 7) with no token on 127.0.0.1 serving
    ``root``, this checkout's extension build found first, no news or update toasts. Yields the
    :class:`lab_server.Server`."""
    env = isolated_env(home, cache)
    env.update(env_extra or {})
    # this checkout's build, found first: the user data dir comes before the environment's (in a
    # virtualenv jupyter_core puts the environment's first unless told not to)
    env["JUPYTER_PREFER_ENV_PATH"] = "0"
    labextensions = Path(env["JUPYTER_DATA_DIR"]) / "labextensions" / "@workbench"
    labextensions.mkdir(parents=True)
    (labextensions / "jupyterlab").symlink_to(BUILT, target_is_directory=True)
    settings = Path(env["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)  # no news or update toasts over the page
    (settings / "notification.jupyterlab-settings").write_text('{"checkForUpdates": false, "fetchNews": "false"}')
    notebook = settings.parent / "notebook-extension"  # every cell in the DOM, not only those in view
    notebook.mkdir()
    (notebook / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    if app == "lab":
        # Notebook 7's pages (/notebooks/...) are served by the same server when notebook is installed
        args = ("--LabApp.expose_app_in_browser=True", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                "--JupyterNotebookApp.expose_app_in_browser=True")
    else:
        args = ("--JupyterNotebookApp.expose_app_in_browser=True",)
    module = {"lab": "jupyterlab", "notebook": "notebook"}[app]
    with jupyter_server(root, home, cache, token="", extra_args=args, env=env, app=module) as server:
        server.cache = cache
        yield server


@contextlib.contextmanager
def open_page(sync_api, url: str, timeout_ms: int = 30_000, ready: str = "#jp-main-dock-panel",
              viewport: tuple[int, int] = (1400, 900)):
    """A chromium page at ``url``, once the ``ready`` selector is there (JupyterLab's main area)."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            context.set_default_timeout(timeout_ms)
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector(ready, timeout=60_000)
            yield page
        finally:
            browser.close()


@contextlib.contextmanager
def screenshot_on_failure(page, name: str):
    try:
        yield
    except BaseException:
        path = screenshot_folder() / f"{name}.png"
        with contextlib.suppress(Exception):
            page.screenshot(path=str(path), full_page=True)
        print(f"screenshot: {path}")
        raise


def set_theme(page, theme: str) -> None:
    """Switch JupyterLab to ``theme`` ("JupyterLab Light", "JupyterLab Dark") and wait until it applies."""
    # the command's result (a promise of nothing useful) is not brought back: it may not serialise
    page.evaluate(f"void window.jupyterapp.commands.execute('apputils:change-theme', {{theme: {json.dumps(theme)}}})")
    page.wait_for_function(f"document.body.dataset.jpThemeName === {json.dumps(theme)}", timeout=60_000)
    page.wait_for_timeout(500)  # the theme's stylesheet applied


# --- a test's own notebook ------------------------------------------------------------------------


def lab_folders(tmp_path_factory, name: str) -> tuple[Path, Path, Path]:
    """``(home, root, cache)`` for one module's server: a fresh home, the folder it serves and an
    empty Hugging Face cache."""
    home = tmp_path_factory.mktemp(name)
    root, cache = home / "root", home / "hub"
    root.mkdir()
    cache.mkdir()
    return home, root, cache


def write_notebook(path: Path, *sources: str, ids: list[str] | None = None) -> Path:
    """A notebook of code cells (not run) on the python3 kernel; ``ids`` names the cells."""
    import nbformat

    cells = [nbformat.v4.new_code_cell(source, **({"id": ids[i]} if ids else {})) for i, source in enumerate(sources)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


# --- a notebook run, saved and reopened (window.jupyterapp: JupyterLab and Notebook 7 alike) ---

RUN_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel?.content?.widgets?.filter(cell => cell.model.type === 'code');
  if (!cells) return false;
  for (const cell of cells) {
    const error = cell.model.outputs.toJSON().find(output => output.output_type === 'error');
    if (error) return `error in cell ${cell.model.id}: ${error.ename}: ${error.evalue}`;
  }
  const kernel = panel.sessionContext.session?.kernel;
  return cells.every(cell => cell.model.executionCount !== null) && kernel?.status === 'idle' ? 'done' : false;
}"""
KERNEL_ID = "() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.id"
SAVE_AND_SHUT_DOWN = """async () => {
  const panel = window.jupyterapp.shell.currentWidget;
  await panel.context.save();
  await panel.sessionContext.shutdown();
  return panel.context.path;
}"""
CELL_NODE = """(id) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const index = panel.content.widgets.findIndex(cell => cell.model.id === id);
  if (index < 0) throw new Error(`no cell with id ${id}`);
  return panel.content.widgets[index].node;
}"""


def run_all_cells(page, timeout_ms: int = 300_000) -> None:
    """Run every cell once the kernel is idle; fail with the first cell error."""
    page.wait_for_function(KERNEL_IDLE, timeout=120_000)
    page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state = page.wait_for_function(RUN_STATE, timeout=timeout_ms).json_value()
    assert state == "done", state


def cell_output(page, cell_id: str):
    """The output area of the cell whose id is ``cell_id`` (scrolled into view: Notebook 7 draws
    cells as they come into view)."""
    node = page.evaluate_handle(CELL_NODE, cell_id).as_element()
    node.scroll_into_view_if_needed()
    return node.query_selector(".jp-Cell-outputArea")


def screenshot(page, name: str, element=None) -> Path:
    """A screenshot (of ``element``, or the page) saved as ``name``.png in the screenshot folder."""
    path = screenshot_folder() / f"{name}.png"
    (element or page).screenshot(path=str(path))
    return path


def screenshot_folder() -> Path:
    """$WORKBENCH_SCREENSHOTS, or a folder under the system temp dir."""
    folder = Path(os.environ.get("WORKBENCH_SCREENSHOTS") or Path(tempfile.gettempdir()) / "workbench-lab-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
