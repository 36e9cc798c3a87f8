"""The JupyterLab extension as shipped: the committed build matches its sources, and the wheel
(editable too) carries it, the server config that enables workbench.lab and the tutorials.
No Node here: scripts/build-extension.sh is what needs it."""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = ROOT / "extension" / "labextension"
DATA = "workbench-0.1.0.data/data"
SHARE = f"{DATA}/share/jupyter/labextensions/@workbench/jupyterlab"


def test_the_committed_build_was_made_from_the_current_sources():
    stamp = runpy.run_path(str(ROOT / "scripts" / "extension_stamp.py"))
    committed = (ROOT / "extension" / "labextension.stamp").read_text().strip()
    assert committed == stamp["stamp"](), (
        "extension/src, style, package.json or yarn.lock changed since extension/labextension was built: "
        "run `bash scripts/build-extension.sh` and commit extension/labextension and extension/labextension.stamp")


def test_the_build_declares_the_plugin_and_the_mime_renderers():
    source = json.loads((ROOT / "extension" / "package.json").read_text())
    built = json.loads((BUILT / "package.json").read_text())
    assert built["name"] == source["name"] == "@workbench/jupyterlab"
    assert (BUILT / built["jupyterlab"]["_build"]["load"]).is_file()
    assert {"extension", "mimeExtension", "style"} <= set(built["jupyterlab"]["_build"])
    bundle = "".join(path.read_text() for path in (BUILT / "static").glob("*.js"))
    for needle in ("application/vnd.workbench.activation-diff+json", "application/vnd.workbench.tokens+json",
                   "jp-WorkbenchDiff", "jp-WorkbenchTokens", "workbench-panel", "Workbench"):
        assert needle in bundle
    assert "rank:40" in bundle.replace(" ", "")  # below text/html's 50, or the HTML fallback wins


@pytest.mark.parametrize("version", ["standard", "editable"])
def test_the_wheel_carries_the_extension_the_server_config_and_the_tutorials(tmp_path, version):
    builders = pytest.importorskip("hatchling.builders.wheel")
    (wheel,) = builders.WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=[version])
    names = set(zipfile.ZipFile(wheel).namelist())
    built = {f"{SHARE}/{path.relative_to(BUILT).as_posix()}" for path in BUILT.rglob("*") if path.is_file()}
    assert built <= names
    assert f"{SHARE}/install.json" in names
    assert f"{DATA}/etc/jupyter/jupyter_server_config.d/workbench.json" in names
    shipped = {name.removeprefix(f"{DATA}/share/workbench/notebooks/") for name in names
               if name.startswith(f"{DATA}/share/workbench/notebooks/")}
    assert shipped == {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}  # nothing they wrote beside them
    assert not any("node_modules" in name or name.startswith("extension/") for name in names)
    if version == "standard":
        assert "workbench/lab/handlers.py" in names
    config = json.loads(zipfile.ZipFile(wheel).read(f"{DATA}/etc/jupyter/jupyter_server_config.d/workbench.json"))
    assert config == {"ServerApp": {"jpserver_extensions": {"workbench.lab": True}}}


def test_server_and_lab_extension_entry_points():
    import workbench.lab as lab

    assert lab._jupyter_server_extension_points() == [{"module": "workbench.lab"}]
    (paths,) = lab._jupyter_labextension_paths()
    assert paths["dest"] == "@workbench/jupyterlab" and Path(paths["src"]) == BUILT
    install = json.loads((ROOT / "extension" / "install.json").read_text())
    assert install["packageName"] == "workbench" and install["packageManager"] == "python"


def test_workbench_and_the_cache_code_load_no_web_framework():
    code = ("import sys, workbench, workbench.porting, workbench.lab, workbench.lab.cache, workbench.lab.tutorials; "
            "print(sorted(m for m in ('tornado', 'jupyter_server', 'IPython', 'ipywidgets') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
