"""Print (or --write) the SHA-256 of the JupyterLab extension's sources: the files the committed
build in extension/labextension/ was made from. extension/labextension.stamp holds the value of
the last build; tests/test_lab_extension.py fails when the two differ (sources edited, not rebuilt)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

EXTENSION = Path(__file__).resolve().parents[1] / "extension"
SOURCES = ("package.json", "yarn.lock", "tsconfig.json", ".yarnrc.yml", "src", "style")
STAMP = EXTENSION / "labextension.stamp"


def source_files() -> list[Path]:
    files = []
    for name in SOURCES:
        path = EXTENSION / name
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return files


def stamp() -> str:
    digest = hashlib.sha256()
    for path in source_files():
        digest.update(path.relative_to(EXTENSION).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes().replace(b"\r\n", b"\n")).digest())
    return digest.hexdigest()


if __name__ == "__main__":
    value = stamp()
    if sys.argv[1:] == ["--write"]:
        STAMP.write_text(value + "\n")
    elif sys.argv[1:] == ["--check"]:
        committed = STAMP.read_text().strip() if STAMP.is_file() else "(none)"
        if committed != value:
            sys.exit(f"extension/labextension was built from other sources (stamp {committed[:12]}, "
                     f"sources {value[:12]}): run scripts/build-extension.sh and commit extension/labextension")
    print(value)
