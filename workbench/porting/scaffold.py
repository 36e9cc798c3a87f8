"""``workbench add-model``: a new model family scaffolded from a registered one (the seed's
``transformers add-new-model-like``).

    >>> scaffold = plan("llama", "olmo")          # checks the names, builds every file's text
    >>> written = write(scaffold)                 # all files or none
    >>> print(next_steps(scaffold))

It writes, into a tree holding the ``workbench`` package (default: the installed package's):

- ``workbench/models/<module>.py``: the new config class (``model_type = name``, the source family's
  defaults written out) and each of the source's head classes subclassed under the new names;
- its entry in ``workbench/models/registry.py``, under the ``# --- added with workbench add-model``
  section of ``FAMILIES``, with every head and the source's tiny test config;
- ``workbench/models/convert_<module>_checkpoint.py``: a conversion-script template (checkpoint keys
  in, workbench keys out, ``--dry-run`` lists unmatched keys both ways and writes nothing).

The registry is read from the target tree; the source family's classes (their defaults, whether its
heads take a ``base_model_class``) from the running workbench.
"""

from __future__ import annotations

import importlib
import importlib.util
import keyword
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import scaffold_templates as templates

SECTION = "# --- added with workbench add-model"
NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


class ScaffoldError(ValueError):
    """A name or tree ``workbench add-model`` cannot use; the message says the fix."""


@dataclass
class Scaffold:
    """What ``workbench add-model`` will write: the names, and each file's new text."""

    like: str
    name: str
    module: str  # file name under workbench/models/, without .py
    prefix: str  # class-name prefix: "Olmo"
    source_module: str
    source_config: str
    config: str
    heads: dict[str, str]  # Auto class -> the source's class
    new_heads: dict[str, str]  # Auto class -> the new class
    defaults: dict
    tiny: dict
    has_base_model_class: set[str]
    root: Path
    files: dict[Path, str] = field(default_factory=dict)  # path -> new text (the registry last)
    replaces: bool = False  # --force over an existing entry of the same module

    @property
    def base_model(self) -> str | None:
        return self.new_heads.get("AutoModel")

    @property
    def model_path(self) -> Path:
        return self.root / "workbench" / "models" / f"{self.module}.py"

    @property
    def script_path(self) -> Path:
        return self.root / "workbench" / "models" / f"convert_{self.module}_checkpoint.py"

    @property
    def registry_path(self) -> Path:
        return self.root / "workbench" / "models" / "registry.py"


def default_root() -> Path:
    """The folder holding the running ``workbench`` package (a checkout, or site-packages)."""
    return Path(__file__).resolve().parents[2]


def class_prefix(name: str) -> str:
    """``"olmo"`` -> ``"Olmo"``, ``"gemma3_text"`` -> ``"Gemma3Text"``, ``"deberta-v2"`` -> ``"DebertaV2"``."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[_-]", name) if part)


def read_registry(root: Path) -> dict:
    """The target tree's ``FAMILIES`` (its registry imports nothing heavy)."""
    path = root / "workbench" / "models" / "registry.py"
    if not path.is_file():
        raise ScaffoldError(f"{root} holds no workbench/models/registry.py. Fix: pass --root the folder that holds "
                            f"the workbench package (a checkout, or a copy of it), or leave --root out for {default_root()}.")
    spec = importlib.util.spec_from_file_location(f"_scaffold_registry_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.FAMILIES


def check_name(name: str, families: dict, root: Path, force: bool, prefix: str | None) -> tuple[str, bool]:
    """The module name for ``name``, and whether it replaces a registered entry (only with ``force``)."""
    module = name.replace("-", "_")
    if not NAME.match(name) or not module.isidentifier() or keyword.iskeyword(module):
        raise ScaffoldError(f"--name {name!r} is not a model_type workbench can use: lowercase letters, digits, '_' "
                            f"and '-', starting with a letter, and not a Python keyword (e.g. 'olmo', 'gemma3_text').")
    if prefix is not None and not (prefix.isidentifier() and prefix[:1].isupper()):
        raise ScaffoldError(f"--prefix {prefix!r} is not a class-name prefix: a capitalised identifier such as 'Olmo'.")
    if module in ("registry", "__init__") or module.startswith("convert_"):
        raise ScaffoldError(f"--name {name!r} would write workbench/models/{module}.py, a file the package needs for "
                            f"something else. Pick another --name.")
    replaces = False
    if name in families:
        # only a family alone in its own file (as add-model writes it) can be regenerated
        own_file = [t for t, f in families.items() if f.module == families[name].module] == [name] \
            and families[name].module == module
        if not force or not own_file:
            where = f"workbench/models/{families[name].module}.py, {families[name].config}"
            fix = "pick another --name, or pass --force to regenerate it from the scaffold" if own_file else \
                "pick another --name"
            raise ScaffoldError(f"model_type {name!r} is already registered ({where}): {fix}.")
        replaces = True
    owner = next((t for t, f in families.items() if f.module == module and t != name), None)
    if owner is not None:
        raise ScaffoldError(f"workbench/models/{module}.py already holds the {owner!r} family: pick another --name.")
    return module, replaces


def plan(like: str, name: str, root: str | os.PathLike | None = None, *, force: bool = False,
         prefix: str | None = None) -> Scaffold:
    """Check the names and build every file's text; nothing is written (see :func:`write`)."""
    root = Path(root) if root is not None else default_root()
    families = read_registry(root)
    if like not in families:
        raise ScaffoldError(f"--like {like!r} is not a registered family. Registered: {', '.join(sorted(families))}.")
    module, replaces = check_name(name, families, root, force, prefix)
    source = families[like]
    try:
        source_module = importlib.import_module(f"..models.{source.module}", __package__)
        getattr(source_module, source.config)
    except (ImportError, AttributeError) as error:
        raise ScaffoldError(f"{root}'s registry has {like!r} in workbench/models/{source.module}.py, which the running "
                            f"workbench ({default_root()}) cannot import ({error}). Fix: run add-model with that tree's "
                            f"workbench (PYTHONPATH={root}).") from error
    source_prefix = source.config.removesuffix("Config")
    prefix = prefix or class_prefix(name)
    new_heads = {auto: prefix + (cls[len(source_prefix):] if cls.startswith(source_prefix) else cls)
                 for auto, cls in source.heads.items()}
    scaffold = Scaffold(
        like=like, name=name, module=module, prefix=prefix, source_module=source.module, source_config=source.config,
        config=f"{prefix}Config", heads=dict(source.heads), new_heads=new_heads,
        defaults=dict(getattr(source_module, source.config).defaults), tiny=dict(source.tiny),
        has_base_model_class={cls for cls in source.heads.values()
                              if hasattr(getattr(source_module, cls), "base_model_class")},
        root=root, replaces=replaces)
    existing = [p for p in (scaffold.model_path, scaffold.script_path) if p.exists()]
    if existing and not force:
        raise ScaffoldError(f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}: "
                            f"pass --force to overwrite, or pick another --name.")
    scaffold.files = {scaffold.model_path: templates.model_file(scaffold),
                      scaffold.script_path: templates.conversion_script(scaffold),
                      scaffold.registry_path: registry_with(scaffold)}
    for path, text in scaffold.files.items():
        compile(text, str(path), "exec")  # a bug here must not reach the tree
    return scaffold


def registry_with(scaffold: Scaffold) -> str:
    """registry.py's text with the new entry at the end of the add-model section (which is added
    before FAMILIES' closing brace when the tree has none); with ``replaces``, in place of the old one."""
    lines = scaffold.registry_path.read_text(encoding="utf-8").splitlines(keepends=True)
    if scaffold.replaces:
        lines = _without_entry(lines, scaffold.name)
    start = next((i for i, line in enumerate(lines) if line.startswith("FAMILIES")), None)
    end = next((i for i in range(start or 0, len(lines)) if lines[i].startswith("}")), None) if start is not None else None
    if end is None:
        raise ScaffoldError(f"{scaffold.registry_path} has no 'FAMILIES = {{ ... }}' block ending in a '}}' line: "
                            f"is it workbench's registry?")
    section = next((i for i in range(start, end) if lines[i].strip().startswith(SECTION)), None)
    entry = templates.registry_entry(scaffold)
    if section is None:
        return "".join(lines[:end] + [f"\n    {SECTION}\n", entry] + lines[end:])
    at = next((i for i in range(section + 1, end) if lines[i].strip().startswith("# ---")), end)
    while lines[at - 1].strip() == "":
        at -= 1
    return "".join(lines[:at] + [entry] + lines[at:])


def _without_entry(lines: list[str], name: str) -> list[str]:
    """Drop the entry of ``name`` (from its '"name": Family(' line to the line closing it, with a
    scaffold comment line just above it)."""
    first = next((i for i, line in enumerate(lines) if line.strip().startswith(f'"{name}": Family(')), None)
    if first is None:
        raise ScaffoldError(f"registry.py registers {name!r} on a line this tool cannot find: remove the entry by hand.")
    depth, last = 0, first
    for last in range(first, len(lines)):
        depth += lines[last].count("(") - lines[last].count(")")
        if depth <= 0:
            break
    if first > 0 and lines[first - 1].strip().startswith("# scaffolded from"):
        first -= 1
    return lines[:first] + lines[last + 1:]


def write(scaffold: Scaffold) -> list[Path]:
    """Write every file, or none: each goes to a temporary file beside its target first; if any
    step fails, the targets are given back their old text (new ones are removed)."""
    old = {path: path.read_text(encoding="utf-8") if path.exists() else None for path in scaffold.files}
    temporary: dict[Path, Path] = {}
    done: list[Path] = []
    try:
        for path, text in scaffold.files.items():
            temporary[path] = path.with_name(f".{path.name}.add-model.tmp")
            temporary[path].write_text(text, encoding="utf-8")
        for path in scaffold.files:  # the registry comes last: the entry appears once its files exist
            os.replace(temporary[path], path)
            del temporary[path]
            done.append(path)
    except BaseException:
        for path in done:
            if old[path] is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(old[path], encoding="utf-8")
        raise
    finally:
        for tmp in temporary.values():
            tmp.unlink(missing_ok=True)
    return done


def describe(scaffold: Scaffold) -> str:
    """What :func:`write` writes (the --dry-run report)."""
    rows = [f"workbench add-model --like {scaffold.like} --name {scaffold.name} would write into {scaffold.root}:"]
    for path, text in scaffold.files.items():
        action = "update" if path == scaffold.registry_path else ("overwrite" if path.exists() else "create")
        rows.append(f"  {action:<9} {path.relative_to(scaffold.root)} ({text.count(chr(10))} lines)")
    rows += ["", "registry entry:", templates.registry_entry(scaffold)]
    return "\n".join(rows)


def next_steps(scaffold: Scaffold) -> str:
    models = Path("workbench") / "models"
    return "\n".join([
        f"Next steps for {scaffold.name} ({scaffold.prefix}*, a copy of {scaffold.like} until you change it):",
        f"  1. Fill in the differences in {models / (scaffold.module + '.py')}: the config defaults, then what the",
        f"     architecture does differently from {scaffold.like} (norms, attention, MLP, embeddings). Set the",
        f"     tiny config in its registry entry ({models / 'registry.py'}) to take the new code paths.",
        f"  2. Run the shared suite: pytest tests/test_models.py -k {scaffold.name}",
        f"     (parity needs the reference to know model_type {scaffold.name!r}).",
        f"  3. Where parity fails, open ActivationDiff (workbench.widgets) on the reference model and yours, built",
        "     from the same weights: it shows the first module whose output differs.",
        f"  4. For checkpoints in another layout, fill in RENAMES in {models / ('convert_' + scaffold.module + '_checkpoint.py')}",
        f"     until python -m workbench.models.convert_{scaffold.module}_checkpoint CHECKPOINT --dry-run reports no",
        "     unmatched key.",
    ])
