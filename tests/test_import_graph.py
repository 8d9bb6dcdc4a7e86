"""The packages import one way: harness (the controller) -> nemesis, checkers, reports -> the ground package
``splitbrain.history``, and no module import cycles at all. Read from the sources with ``ast`` (imports inside
functions count; imports under ``if TYPE_CHECKING:`` do not, they never run).

The ground package (splitbrain/history/: the history format, importers, the exception root, the verdict, run-dir
file names, value helpers) imports nothing of the project outside itself. Checkers and reports import only it (and
themselves); nemesis may also use the host/cluster contracts (``splitbrain.harness.api``)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: the project's packages: folder -> package name under splitbrain (the ground package lives in the root's folder)
FOLDERS = {"harness": "harness", "nemesis": "nemesis", "checkers": "checkers", "reports": "reports",
           "systems_under_test": "systems_under_test", "splitbrain/history": "history"}
PACKAGES = tuple(FOLDERS.values())
#: package -> the controller modules it may import
MAY_IMPORT_FROM_HARNESS = {
    "checkers": set(),
    "reports": set(),
    "nemesis": {"splitbrain.harness.api"},
    "systems_under_test": set(),
    "history": set(),
}
#: package -> the packages it may import at all (harness: everything)
MAY_IMPORT = {
    "harness": {"harness", "nemesis", "checkers", "reports", "history"},
    "nemesis": {"nemesis", "harness", "history"},
    "checkers": {"checkers", "history"},
    "reports": {"reports", "history"},
    "history": {"history"},
    "systems_under_test": {"systems_under_test"},
}


def _modules() -> dict[str, Path]:
    mods = {"splitbrain": ROOT / "splitbrain" / "__init__.py", "splitbrain.api": ROOT / "splitbrain" / "api.py"}
    for folder, pkg in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [pkg, *path.relative_to(ROOT / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join(["splitbrain", *parts])] = path
    _graph_nodes_for_extensions(mods)
    return mods


def _graph_nodes_for_extensions(mods: dict[str, Path]) -> None:
    """C extensions (``checkers/_lin_native.c``) are modules too: importing one is no import of its package. Their
    source is C, so they import nothing of ours; an empty Python file stands for each."""
    for pkg in ("checkers", "harness", "nemesis", "reports", "systems_under_test"):
        for path in (ROOT / pkg).rglob("*.c"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            mods[".".join(["splitbrain", *parts])] = _EMPTY


_EMPTY = Path(__file__).resolve().parent / "data" / "empty_module.py"


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (at module level or inside functions)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for c in child.orelse:
                    visit_one(c)
                continue
            visit_one(child)

    def visit_one(node):
        if isinstance(node, ast.Import):
            for a in node.names:
                out.add(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                # "from pkg import module" depends on that module (and on pkg only through it: a package's own
                # modules doing "from pkg import sibling" is no cycle); "from module import name" on the module
                out.add(f"{mod}.{a.name}" if f"{mod}.{a.name}" in known else mod)
        visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    # a dependency on a.b.c is a dependency on the module a.b.c, or on a.b if c is a name in it
    deps = set()
    for m in out:
        while m and m not in known:
            m = m.rpartition(".")[0]
        if m and m != name:
            deps.add(m)
    return deps


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _package(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in PACKAGES else None


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative enough for this size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def test_graph_sees_imports():
    g = _graph()
    # sanity: the reader finds top-level, lazy and relative imports
    assert "splitbrain.history.ops" in g["splitbrain.checkers.linearizable"]
    assert "splitbrain.checkers.compose" in g["splitbrain.harness.run.analysis"]
    assert "splitbrain.systems_under_test.raft_kv.core" in g["splitbrain.systems_under_test.raft_kv.server"]
    assert "splitbrain.history.verdict" in g["splitbrain.api"]


def test_packages_import_one_way():
    bad = []
    for mod, deps in _graph().items():
        pkg = _package(mod)
        if pkg is None:
            continue
        for d in deps:
            dpkg = _package(d)
            if dpkg is None:
                if d.startswith("splitbrain") and pkg == "systems_under_test" and d != "splitbrain":
                    bad.append(f"{mod} -> {d}")
                continue
            if dpkg not in MAY_IMPORT[pkg]:
                bad.append(f"{mod} -> {d}")
            elif dpkg == "harness" and pkg != "harness" and d not in MAY_IMPORT_FROM_HARNESS[pkg]:
                bad.append(f"{mod} -> {d}")
    assert not bad, "imports against the one-way flow:\n" + "\n".join(sorted(bad))


def test_no_import_cycles():
    cycles = _cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)
