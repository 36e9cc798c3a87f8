"""The checker behind tests/test_layering.py, which applies it to workbench/ and self-tests each
rule. The package's shape, kept by tests: no import cycles, no oversized files or functions, no
private names borrowed across subpackages, and imports that run the way the project's STYLE.md
(../shared/STYLE.md: "Which way imports run", "Never") draws them.

The checker reads ``workbench/`` with :mod:`ast` and :mod:`tokenize` only (it imports nothing
from the package), so a broken module cannot hide a violation. Every rule has a self-test that
feeds it a small synthetic tree in ``tmp_path`` and expects the violation, so no rule can pass by
checking nothing.

Conventions the rules enforce:

- **Imports** are classified by where they sit: *module-level* (run on import; inside ``if``/
  ``try``/``class`` bodies too), *function-level* (inside a ``def``, run on first call) and
  *type-only* (under ``if TYPE_CHECKING:``, never run). Relative imports are resolved;
  ``from pkg import name`` points at the submodule ``pkg.name`` when that file exists. An import
  of ``pkg.sub`` counts as an edge to ``pkg.sub`` only (not to the packages above it), and names
  computed at run time (``importlib.import_module(f"...{name}")``) are not seen.
- **Cycles**: every runtime import counts, module-level and function-level alike. A lazy import
  that closes a cycle still means one of the two files holds code that belongs to the other
  (STYLE: "A cycle between two files means one of them holds the wrong code"): the cycles the
  issue names (pipelines <-> zoo through a lazy import, porting report <-> render) are of that
  kind. Type-only imports do not count: they never run and only name a type in an annotation.
  The message says which kind each edge is.
- **Size**: a file has at most 600 lines; a function at most 60 (from its ``def`` line to its last
  line, decorators excluded) unless a comment ``# long: <reason>`` sits on a line from the ``def``
  line through the first statement after the docstring, e.g.::

      def convert(...):  # long: one pass over the checkpoint's keys, each branch one tensor family

- **Private names**: ``_name`` (a function, class, constant or module) defined in one subpackage of
  workbench is imported only inside it. A subpackage is the first name under ``workbench``
  (``workbench.porting.report`` -> ``porting``; a top-level module such as ``workbench.gguf`` is its
  own). ``from ..gguf import _reader`` in ``widgets`` and ``import workbench.gguf`` followed by
  ``gguf._reader`` both count.
- **Directions**: see ``LAYERS``, ``ALLOWED_UPWARD`` and :func:`check_never` below.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "workbench"
MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 60
LONG_COMMENT = re.compile(r"#\s*long:\s*\S")



# --- reading the tree -------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name of the file that imports
    target: str  # dotted module imported (a workbench module, or the external module's full name)
    name: str | None  # the name taken from it (``from target import name``), None for ``import target``
    line: int
    kind: str  # "module", "function" or "type"
    internal: bool  # target is a module of the scanned package


@dataclass
class Module:
    name: str
    path: Path
    source: str
    tree: ast.Module
    is_package: bool
    comments: dict[int, str] = field(default_factory=dict)  # line -> comment text

    @property
    def lines(self) -> int:
        return len(self.source.splitlines())

    @property
    def subpackage(self) -> str:
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""


@dataclass(repr=False)
class Tree:
    root: Path  # the directory that holds the package folder
    modules: dict[str, Module]
    imports: list[Import]
    private_uses: list[tuple[Module, int, str, str]]  # (module, line, target module, private name)

    def __repr__(self) -> str:
        return f"<Tree {self.root}: {len(self.modules)} modules, {len(self.imports)} imports>"

    def rel(self, module: str) -> str:
        return self.modules[module].path.relative_to(self.root).as_posix()

    def where(self, module: str, line: int) -> str:
        return f"{self.rel(module)}:{line}"


def _module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _comments(source: str) -> dict[int, str]:
    found = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            found[token.start[0]] = token.string
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _resolve(module: Module, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


class _ImportVisitor(ast.NodeVisitor):
    """Collects one module's imports with their kind, the names they bind to workbench modules,
    and attribute reads of private names through those bindings (``gguf._reader``)."""

    def __init__(self, module: Module, known: set[str]) -> None:
        self.module, self.known = module, known
        self.kind = "module"
        self.imports: list[Import] = []
        self.bound: dict[str, str] = {}  # local name -> workbench module
        self.attributes: list[tuple[int, list[str]]] = []

    def _within(self, kind: str, nodes) -> None:
        outer, self.kind = self.kind, kind if self.kind != "type" else "type"
        for node in nodes:
            self.visit(node)
        self.kind = outer

    def visit_FunctionDef(self, node) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._within("function", node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node) -> None:
        self._within("function", [node.body])

    def visit_If(self, node) -> None:
        if _is_type_checking(node.test):
            self._within("type", node.body)
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, name: str | None, line: int) -> None:
        internal = target in self.known
        self.imports.append(Import(self.module.name, target, name, line, self.kind, internal))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, None, node.lineno)
            if alias.asname and alias.name in self.known:
                self.bound[alias.asname] = alias.name
            elif alias.name.split(".")[0] in self.known:
                self.bound[alias.name.split(".")[0]] = alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.module, node.level, node.module)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            if submodule in self.known:
                self._add(submodule, None, node.lineno)
                self.bound[alias.asname or alias.name] = submodule
            else:
                self._add(base, alias.name, node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        chain, inner = [node.attr], node.value
        while isinstance(inner, ast.Attribute):
            chain.append(inner.attr)
            inner = inner.value
        if isinstance(inner, ast.Name) and inner.id in self.bound:
            self.attributes.append((node.lineno, [inner.id] + chain[::-1]))
            return  # the chain is read whole; its inner attributes are not separate uses
        self.generic_visit(node)


def _private_uses(module: Module, visitor: _ImportVisitor, known: set[str]) -> list[tuple[Module, int, str, str]]:
    uses = []
    for line, chain in visitor.attributes:
        current = visitor.bound[chain[0]]
        for attr in chain[1:]:
            if f"{current}.{attr}" in known:
                current = f"{current}.{attr}"
                continue
            if _is_private(attr):
                uses.append((module, line, current, attr))
            break
    return uses


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def scan(root: Path, package: str = PACKAGE) -> Tree:
    """Parse every ``.py`` file of ``root/package`` and collect its imports."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        name, is_package = _module_name(path, root)
        source = path.read_text(encoding="utf-8")
        modules[name] = Module(name, path, source, ast.parse(source, str(path)), is_package, _comments(source))
    known = set(modules)
    imports, private_uses = [], []
    for module in modules.values():
        visitor = _ImportVisitor(module, known)
        visitor.visit(module.tree)
        imports += visitor.imports
        private_uses += _private_uses(module, visitor, known)
    return Tree(root, modules, imports, private_uses)


# --- the rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Violation:
    key: str  # stable across line shifts, for KNOWN_VIOLATIONS
    message: str  # file:line, what is wrong, and the fix

    def __str__(self) -> str:
        return self.message


def _runtime_graph(tree: Tree) -> dict[str, dict[str, Import]]:
    """importer -> target -> the first runtime import of it (module-level preferred)."""
    graph: dict[str, dict[str, Import]] = defaultdict(dict)
    for imp in tree.imports:
        if not imp.internal or imp.kind == "type" or imp.target == imp.importer:
            continue
        known = graph[imp.importer].get(imp.target)
        if known is None or (known.kind != "module" and imp.kind == "module"):
            graph[imp.importer][imp.target] = imp
    return graph


def _strongly_connected(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """Tarjan's components with more than one module."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_through(graph: dict[str, dict[str, Import]], members: list[str]) -> list[Import]:
    """The shortest cycle through the component's first member, as its import edges."""
    start, inside = members[0], set(members)
    previous: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, imp in sorted(graph.get(node, {}).items()):
                if target not in inside or target in previous:
                    continue
                previous[target] = imp
                if target == start:
                    edges, at = [], start
                    while True:
                        edges.append(previous[at])
                        at = previous[at].importer
                        if at == start:
                            return edges[::-1]
                following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # pragma: no cover - Tarjan found one


def check_cycles(tree: Tree) -> list[Violation]:
    graph = _runtime_graph(tree)
    found = []
    for members in _strongly_connected(graph):
        edges = _cycle_through(graph, members)
        path = " -> ".join([edges[0].importer] + [edge.target for edge in edges])
        steps = "; ".join(f"{tree.where(edge.importer, edge.line)} imports {edge.target} ({edge.kind}-level)"
                          for edge in edges)
        found.append(Violation(
            f"cycle: {', '.join(members)}",
            f"import cycle {path}: {steps}. Fix: move the code both sides need into one module below them "
            f"(or to the side that owns it) so the imports run one way; a lazy import does not make it one way."))
    return found


def iter_functions(node: ast.AST, prefix: str = ""):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            qualname = f"{prefix}{child.name}"
            yield qualname, child
            yield from iter_functions(child, f"{qualname}.")
        elif isinstance(child, ast.ClassDef):
            yield from iter_functions(child, f"{prefix}{child.name}.")
        else:
            yield from iter_functions(child, prefix)


def _says_why(module: Module, function: ast.AST) -> bool:
    body = function.body
    first = body[1] if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(
        getattr(body[0], "value", None), ast.Constant) and isinstance(body[0].value.value, str) else body[0]
    return any(LONG_COMMENT.search(module.comments.get(line, "")) for line in range(function.lineno, first.lineno + 1))


def check_sizes(tree: Tree) -> list[Violation]:
    found = []
    for module in tree.modules.values():
        path = tree.rel(module.name)
        if module.lines > MAX_FILE_LINES:
            found.append(Violation(
                f"file: {path}",
                f"{path}:1: {module.lines} lines, over the {MAX_FILE_LINES}-line budget. Fix: split it where it "
                f"holds two things (a helper module beside it, or a subpackage)."))
        for qualname, function in iter_functions(module.tree):
            length = function.end_lineno - function.lineno + 1
            if length > MAX_FUNCTION_LINES and not _says_why(module, function):
                found.append(Violation(
                    f"function: {path}:{qualname}",
                    f"{path}:{function.lineno}: {qualname}() is {length} lines, over {MAX_FUNCTION_LINES}. Fix: split "
                    f"it into named steps, or say why it must be long with a `# long: <reason>` comment on the def "
                    f"line or the first line of its body."))
    return found


def check_private_imports(tree: Tree) -> list[Violation]:
    found = []

    def flag(module: Module, line: int, target: str, name: str) -> None:
        owner = tree.modules[target].subpackage
        if owner == module.subpackage:
            return
        path = tree.rel(module.name)
        found.append(Violation(
            f"private: {path} uses {target}.{name}",
            f"{tree.where(module.name, line)}: {module.name} (subpackage '{module.subpackage}') uses the private "
            f"name {name} of {target} (subpackage '{owner}'). Fix: make it public in its module (drop the "
            f"underscore, document it) or move what needs it into '{owner}'."))

    for imp in tree.imports:
        if not imp.internal:
            continue
        module = tree.modules[imp.importer]
        if imp.name is not None and _is_private(imp.name):
            flag(module, imp.line, imp.target, imp.name)
        else:  # a private module: workbench.widgets._display
            parts = imp.target.split(".")
            for depth in range(2, len(parts) + 1):
                if _is_private(parts[depth - 1]):
                    flag(module, imp.line, ".".join(parts[: depth - 1]), parts[depth - 1])
                    break
    for module, line, target, name in tree.private_uses:
        flag(module, line, target, name)
    return found


# Layers, low to high, after STYLE.md's "Which way imports run": a module imports only from its own
# layer or lower ones (runtime imports; type-only ones never run). Every subpackage and top-level
# module of workbench must be listed, so a new one is placed on purpose.
LAYERS: list[set[str]] = [
    {"errors", "io", "atomic_folder", "audio", "outputs", "tasks", "theme", "file_memo", "gguf_header", "gguf_architectures", "model_card", "model_card_write"},  # plain helpers, tables and file formats with no workbench imports
    {"hub", "zoo_lookup", "hub_push"},  # repo id / folder / cache -> paths; where the zoo's models are; pushes
    {"config", "weights", "gguf"},  # files read and written
    {"nn", "quantization", "quantization_save", "gguf_packed", "tokenization", "processing", "metrics"},  # primitives (quantized Linear layers, GGUF blocks kept packed), text and audio in
    {"modeling", "models", "auto", "adapters", "adapters_quantized"},  # models from nn, the registry that finds them, peft adapters on them
    {"generation"},  # the decoding loop over models
    {"pipelines", "training", "porting", "onnx"},  # tasks, fine-tuning, activation diffs, ONNX export
    {"recipes", "zoo", "catalog", "catalog_adapters", "catalog_load"},  # trained models built from the layers below; the scan of what is here
    {"", "__main__", "cli", "lab", "widgets"},  # front ends; "" is workbench/__init__.py, the lazy facade
]
# Upward imports STYLE.md asks for, (importer, target subpackage) -> why. Only function-level.
ALLOWED_UPWARD = {
    ("workbench.modeling", "generation"): "the model base class's generate() only hands over to generation/",
    ("workbench.models.whisper", "generation"): "Whisper's generate() and detect_language() hand over to generation/whisper.py",
}
UI_LIBRARIES = ("ipywidgets", "matplotlib", "IPython")


def _layer(subpackage: str) -> int | None:
    return next((rank for rank, members in enumerate(LAYERS) if subpackage in members), None)


def check_directions(tree: Tree) -> list[Violation]:
    found = []
    for name in sorted({module.subpackage for module in tree.modules.values()}):
        if _layer(name) is None:
            found.append(Violation(
                f"layer: {name}", f"{PACKAGE}/{name}: not in any layer of tests/layering.py's LAYERS. Fix: add it "
                f"to the layer it belongs to (what it imports is at or below it, what imports it at or above)."))
    for imp in tree.imports:
        if not imp.internal or imp.kind == "type":
            continue
        source, target = tree.modules[imp.importer].subpackage, tree.modules[imp.target].subpackage
        if imp.target == PACKAGE and imp.name is not None and imp.name.startswith("__"):
            continue  # __version__ from the package root
        low, high = _layer(target), _layer(source)
        if low is None or high is None or low <= high:
            continue
        if imp.kind == "function" and (imp.importer, target) in ALLOWED_UPWARD:
            continue
        found.append(Violation(
            f"direction: {imp.importer} -> {imp.target}",
            f"{tree.where(imp.importer, imp.line)}: {imp.importer} (layer {high}: {source or 'the package root'}) "
            f"imports {imp.target} (layer {low}: {target or 'the package root'}, above it; {imp.kind}-level). Fix: "
            f"move what it needs down to a layer at or below {source or 'the root'}, or have the higher layer pass "
            f"it in."))
    return found


def check_never(tree: Tree) -> list[Violation]:
    """STYLE.md's "Never" list."""
    found = []
    for imp in tree.imports:
        where, module = tree.where(imp.importer, imp.line), tree.modules[imp.importer]
        top = imp.target.split(".")[0]
        if top == "transformers":
            found.append(Violation(
                f"never: {imp.importer} imports transformers",
                f"{where}: {imp.importer} imports {imp.target}. Nothing under workbench/ may import the reference "
                f"library (it is installed for parity tests only). Fix: implement what it needs in workbench."))
        if top in UI_LIBRARIES and imp.kind == "module" and module.subpackage != "widgets":
            found.append(Violation(
                f"never: {imp.importer} imports {top}",
                f"{where}: {imp.importer} imports {imp.target} at module level, outside workbench/widgets. Fix: "
                f"import it inside the function that draws, or move that code to workbench/widgets."))
        if not imp.internal or imp.kind == "type":
            continue
        target = tree.modules[imp.target].subpackage
        forbidden = {"models": ("pipelines", "training"), "nn": ("models",)}.get(module.subpackage, ())
        if target in forbidden:
            found.append(Violation(
                f"never: {imp.importer} -> {imp.target}",
                f"{where}: {imp.importer} imports {imp.target} ({imp.kind}-level); {module.subpackage}/ never "
                f"imports {target}/. Fix: move the shared code down (into nn/ or a helper) or invert the call."))
    return found


RULES = {"cycles": check_cycles, "sizes": check_sizes, "private": check_private_imports,
         "directions": check_directions, "never": check_never}


def violations(tree: Tree) -> list[Violation]:
    return [found for rule in RULES.values() for found in rule(tree)]
