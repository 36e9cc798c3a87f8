#!/usr/bin/env bash
# Builds the JupyterLab extension: extension/ (TypeScript) -> extension/labextension/ (committed,
# shipped in the wheel as share/jupyter/labextensions/@workbench/jupyterlab), and stamps the
# sources it was built from (extension/labextension.stamp).
#
# Needs Node >= 20.19 and jlpm / jupyter-builder (both come with `pip install jupyterlab`).
# Users never run this: the wheel and `pip install -e .` carry the committed build.
#
#   bash scripts/build-extension.sh           rebuild after editing extension/src or style
#   bash scripts/build-extension.sh --check   CI: fail if the committed build is stale, then
#                                             rebuild from the lockfile to prove it still builds
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
BIN="$(dirname "$(command -v "$PYTHON")")"
export PATH="$BIN:$PATH"  # jlpm and jupyter-builder next to the interpreter (a venv's bin)
if [ "${1:-}" = "--check" ]; then
    "$PYTHON" scripts/extension_stamp.py --check >/dev/null
fi
cd extension
if [ "${1:-}" = "--check" ]; then
    jlpm install --immutable
else
    jlpm install
fi
jlpm clean:all
jlpm build:prod
cd ..
"$PYTHON" scripts/extension_stamp.py --write >/dev/null
echo "built extension/labextension ($(du -sh extension/labextension | cut -f1)), stamp $(cat extension/labextension.stamp | cut -c1-12)"
