"""The code's shape, as issue 18 set it and docs/architecture.md states it.

- No module over 400 lines and no function over 60 lines in `bot/` and `storage/` (the
  emulator and the migrations aside), unless a comment starting `long:` says why: at the
  top of the module (before its first statement after the docstring and imports) for a
  module, or inside the function for a function.
- No import cycle between Firewatch's modules (the emulator's included).
The layer contracts themselves are import-linter's (`[tool.importlinter]` in
pyproject.toml, run by `.ci/run`); the cycle check is here because import-linter has no
contract for "no cycles anywhere".
"""

from __future__ import annotations

import ast
import io
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
MODULE_MAX = 400
FUNCTION_MAX = 60
EXEMPT = ("bot/emulator/", "storage/migrations/")


def _sources() -> Iterator[Path]:
    for top in ("bot", "storage"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            if not rel.startswith(EXEMPT):
                yield path


def _long_comments(source: str) -> list[int]:
    """Line numbers of comments that start with `long:`."""
    lines = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and token.string.lstrip("# ").startswith("long:"):
            lines.append(token.start[0])
    return lines


def _module_exempt(tree: ast.Module, long_lines: list[int]) -> bool:
    body = [
        node
        for node in tree.body
        if not isinstance(node, ast.Import | ast.ImportFrom)
        and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
    ]
    first = body[0].lineno if body else 10**9
    return any(line < first for line in long_lines)


def shape_problems(path: Path) -> list[str]:
    source = path.read_text("utf-8")
    rel = path.relative_to(REPO).as_posix()
    tree = ast.parse(source)
    long_lines = _long_comments(source)
    problems = []
    length = len(source.splitlines())
    if length > MODULE_MAX and not _module_exempt(tree, long_lines):
        problems.append(f"{rel}: {length} lines (over {MODULE_MAX}, no `long:` reason at the top)")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            end = node.end_lineno or node.lineno
            size = end - node.lineno + 1
            if size > FUNCTION_MAX and not any(node.lineno <= ln <= end for ln in long_lines):
                problems.append(f"{rel}:{node.lineno}: {node.name} is {size} lines")
    return problems


def test_modules_and_functions_are_short_or_say_why() -> None:
    problems = [problem for path in _sources() for problem in shape_problems(path)]
    assert not problems, "\n".join(problems)


def import_cycles(*packages: str) -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), TYPE_CHECKING imports included."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for module in sorted(graph.modules):
            if module not in index:
                visit(module)
    finally:
        sys.setrecursionlimit(limit)
    return cycles


def test_no_import_cycles() -> None:
    assert import_cycles("bot", "storage") == []


def test_the_cycle_finder_finds_a_cycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg import b\n")
    (package / "b.py").write_text("from cyclic_pkg import a\n")
    (package / "c.py").write_text("from cyclic_pkg import a\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert import_cycles("cyclic_pkg") == [["cyclic_pkg.a", "cyclic_pkg.b"]]


def test_the_shape_check_reads_long_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "plain.py").write_text(f"def f() -> None:\n{body}\n")
    (tmp_path / "said.py").write_text(f"def f() -> None:\n    # long: a table\n{body}\n")
    (tmp_path / "big.py").write_text('"""Doc."""\n' + "x = 1\n" * 401)
    (tmp_path / "big_said.py").write_text('"""Doc."""\n# long: generated table\n' + "x = 1\n" * 401)
    assert shape_problems(tmp_path / "plain.py") == ["plain.py:1: f is 62 lines"]
    assert shape_problems(tmp_path / "said.py") == []
    assert shape_problems(tmp_path / "big.py") == [
        "big.py: 402 lines (over 400, no `long:` reason at the top)"
    ]
    assert shape_problems(tmp_path / "big_said.py") == []
