"""JupyterLab integration: a jupyter_server extension with the REST endpoints of the workbench
side panel (:mod:`workbench.lab.handlers`), and where the prebuilt JupyterLab extension lives.

``pip install 'workbench[lab]'`` installs both: the built extension goes to
``share/jupyter/labextensions/@workbench/jupyterlab`` and
``etc/jupyter/jupyter_server_config.d/workbench.json`` enables this module in ``jupyter lab``.
Nothing here is imported by the rest of workbench.
"""

from __future__ import annotations

from pathlib import Path

EXTENSION_NAME = "@workbench/jupyterlab"


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "workbench.lab"}]


def _load_jupyter_server_extension(serverapp) -> None:
    from .handlers import setup_handlers

    setup_handlers(serverapp.web_app)
    serverapp.log.info("workbench: /workbench/api/models and /workbench/api/tutorials are served")


def _jupyter_labextension_paths() -> list[dict]:
    """For ``jupyter labextension develop``: the built extension in a source checkout."""
    built = Path(__file__).resolve().parents[2] / "extension" / "labextension"
    return [{"src": str(built), "dest": EXTENSION_NAME}]
