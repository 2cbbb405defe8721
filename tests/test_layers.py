"""The layers of docs/design.md hold: import-linter's contracts (pyproject.toml) over the code,
and a contract that is broken is caught (a kernel module that imports a daemon's); no class
grows past about 20 attributes; errno values and signal numbers are defined once (abi.py)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return subprocess.run([exe, "--config", str(root / "pyproject.toml")], capture_output=True, text=True,
                          cwd=root, env={"PATH": str(Path(sys.executable).parent), "PYTHONPATH": str(root)},
                          timeout=300)


def test_the_layering_contracts_are_kept() -> None:
    r = lint(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_a_kernel_module_that_imports_a_daemon_breaks_them(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "shoal", tmp_path / "shoal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    rmem = tmp_path / "shoal" / "kernel" / "rmem.py"
    rmem.write_text(rmem.read_text() + "\nfrom shoal.daemons import node  # noqa: E402,F401\n")
    r = lint(tmp_path)
    assert r.returncode != 0 and "shoal.kernel is not allowed to import shoal.daemons" in r.stdout, r.stdout


def kernel_imports(root: Path) -> dict[str, set[str]]:
    """Which shoal.kernel modules each one imports when it runs: at its top or inside a
    function (an import made late only to dodge a circle is still a circle); imports under
    `if TYPE_CHECKING:` are for annotations and never run."""
    base = root / "shoal" / "kernel"
    mods = {}
    for f in base.rglob("*.py"):
        parts = f.relative_to(root).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}

    def walk(m: str, nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                walk(m, node.orelse)
                continue
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    graph[m] |= {a.name for a in sub.names if a.name in mods}
                elif isinstance(sub, ast.ImportFrom) and sub.module:
                    for a in sub.names:
                        full = f"{sub.module}.{a.name}"
                        target = full if full in mods else sub.module
                        if target in mods and target != m:
                            graph[m].add(target)
    for m, f in mods.items():
        walk(m, ast.parse(f.read_text()).body)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_among_kernel_modules() -> None:
    graph = kernel_imports(ROOT)
    assert "shoal.kernel.sched" in graph and "shoal.kernel.migrate" in graph["shoal.kernel.sched"]
    assert circles(graph) == []


def test_a_circle_in_the_kernel_is_caught(tmp_path: Path) -> None:
    """The scheduler imports rmem at its top; rmem importing the scheduler, even inside a
    function, closes a circle."""
    shutil.copytree(ROOT / "shoal" / "kernel", tmp_path / "shoal" / "kernel",
                    ignore=shutil.ignore_patterns("__pycache__"))
    rmem = tmp_path / "shoal" / "kernel" / "rmem.py"
    late = "\n\ndef late() -> None:\n    from shoal.kernel import sched  # noqa: F401\n"
    rmem.write_text(rmem.read_text() + late)
    found = circles(kernel_imports(tmp_path))  # (the circle holds what lies between them too)
    assert len(found) == 1 and {"shoal.kernel.rmem", "shoal.kernel.sched"} <= set(found[0]), found


def test_a_kernel_module_that_imports_the_tables_breaks_the_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "shoal", tmp_path / "shoal", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    entry = tmp_path / "shoal" / "kernel" / "entry.py"
    entry.write_text(entry.read_text() + "\nfrom shoal.kernel.calls import io  # noqa: E402,F401\n")
    r = lint(tmp_path)
    want = "shoal.kernel.entry is not allowed to import shoal.kernel.calls.io"
    assert r.returncode != 0 and want in r.stdout, r.stdout


def class_attributes(source: str) -> dict[str, set[str]]:
    """Each class's attributes: its annotated fields, __slots__ and `self.X = ...` stores."""
    out = {}
    for c in ast.walk(ast.parse(source)):
        if not isinstance(c, ast.ClassDef):
            continue
        names = set()
        for n in c.body:
            if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                names.add(n.target.id)
            elif isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__slots__" for t in n.targets):
                names |= set(ast.literal_eval(n.value))
        names |= {f.attr for f in ast.walk(c) if isinstance(f, ast.Attribute) and isinstance(f.ctx, ast.Store)
                  and isinstance(f.value, ast.Name) and f.value.id == "self"}
        out[c.name] = names
    return out


# The records published to the host are flat on purpose: each figure reads as `m.<name>`
# (docs/design.md, "A kernel of parts"). The I/O cluster's node holds its ten servers and the
# engine's node interface (its docstring).
PUBLISHED = {"Migration", "ProcessRecord", "IoNode"}


def test_classes_stay_small() -> None:
    """No class holds more than about 20 attributes: a part's state is a record of its own
    (k.sched, p.fs, a.swap, spec.cache, cpu.regs, ...), not more fields on the object that
    holds it."""
    big = {}
    for path in sorted((ROOT / "shoal").rglob("*.py")):
        for name, attrs in class_attributes(path.read_text()).items():
            if len(attrs) > 22 and name not in PUBLISHED:
                big[f"{path.relative_to(ROOT)}:{name}"] = len(attrs)
    assert not big, big


def test_a_class_that_grows_is_caught() -> None:
    fields = "".join(f"        self.f{i} = {i}\n" for i in range(23))
    source = f"class Big:\n    x: int\n    __slots__ = ('y',)\n    def __init__(self) -> None:\n{fields}"
    assert len(class_attributes(source)["Big"]) == 25


def test_errno_and_signal_numbers_are_defined_once() -> None:
    """Only shoal/abi.py gives an errno or a signal name a number; every other module imports
    it from there. (The names: the host's errno names and the signal names of abi.py.)"""
    import errno

    from shoal.abi import SIGNAL_NAMES
    names = set(errno.errorcode.values()) | set(SIGNAL_NAMES.values())
    found = []
    for path in sorted((ROOT / "shoal").rglob("*.py")):
        if path.name == "abi.py":
            continue
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign):
                targets = [t for tg in node.targets for t in (tg.elts if isinstance(tg, ast.Tuple) else [tg])]
                found += [f"{path.relative_to(ROOT)}: {t.id}" for t in targets
                          if isinstance(t, ast.Name) and t.id in names]
    assert not found, found
