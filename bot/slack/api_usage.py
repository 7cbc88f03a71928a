"""Which Slack Web API methods Firewatch calls, read from its own source code.

`tests/slack/test_manifest.py` uses this to check that `manifest.yaml` asks for exactly the bot
scopes those methods need: a new call whose scope is missing fails the test, and so does a
scope that no call needs any more. Nothing imports this module at run time.

The call forms it recognises, anywhere under `bot/` except the Slack emulator (which
serves the Web API rather than calling it):

* ``call(client, "chat.postMessage", ...)``: `bot.slack.delivery.web_api.call`,
  the outbox's wrapper;
* ``client.api_call("chat.postMessage", ...)`` (or ``api_method="..."``);
* slack_sdk's convenience methods, ``client.views_open(...)`` → ``views.open``, resolved
  from slack_sdk's own source (so ``files_upload_v2`` counts as the methods it calls);
* Bolt's ``say(...)`` → ``chat.postMessage``.

A function that is itself one of these forms (a `call` wrapper, an `api_call` override)
forwarding its own method parameter is not a call of its own: its callers are. Any other
call whose method name is not a string literal cannot be checked from the source; it is
reported in `WebApiUsage.dynamic` so a test can refuse it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

# Functions whose second positional argument (or `method=`) names the Web API method.
WRAPPERS = frozenset({"call"})
# Bolt's `say` utility posts with chat.postMessage.
SAY_METHOD = "chat.postMessage"
# Sub-packages of `bot` that are not the app: the emulator is Slack's stand-in.
NOT_APP_CODE = frozenset({"emulator"})


@dataclass(frozen=True)
class CallSite:
    """Where a call is: file (relative to the scanned root's parent), line, function."""

    path: str
    line: int
    function: str

    def __str__(self) -> str:
        where = f" in {self.function}()" if self.function else ""
        return f"{self.path}:{self.line}{where}"


@dataclass(frozen=True)
class MethodCall:
    method: str
    site: CallSite


@dataclass
class WebApiUsage:
    """Every recognised Web API call, and the calls whose method is computed at run time."""

    calls: list[MethodCall] = field(default_factory=list)
    dynamic: list[CallSite] = field(default_factory=list)

    @property
    def methods(self) -> dict[str, list[CallSite]]:
        """Each called method with where it is called, sorted by method name."""
        out: dict[str, list[CallSite]] = {}
        for call in sorted(self.calls, key=lambda c: (c.method, c.site.path, c.site.line)):
            out.setdefault(call.method, []).append(call.site)
        return out


def find_web_api_calls(
    package: Path,
    *,
    skip: Iterable[str] = NOT_APP_CODE,
    sdk: dict[str, frozenset[str]] | None = None,
) -> WebApiUsage:
    """Scan every `.py` file under `package` (except the `skip` sub-packages)."""
    sdk_methods = slack_sdk_methods() if sdk is None else sdk
    skipped = {package / name for name in skip}
    usage = WebApiUsage()
    for path in sorted(package.rglob("*.py")):
        if any(path.is_relative_to(s) for s in skipped):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        relative = path.relative_to(package.parent).as_posix()
        _Scanner(relative, sdk_methods, usage).visit(tree)
    return usage


@cache
def slack_sdk_methods() -> dict[str, frozenset[str]]:
    """`AsyncWebClient` convenience method name → the Web API methods it calls."""
    from slack_sdk.web import async_client

    source = Path(async_client.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source)
    cls = next(
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef) and node.name == "AsyncWebClient"
    )
    direct: dict[str, set[str]] = {}
    delegates: dict[str, set[str]] = {}
    for fn in cls.body:
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        direct[fn.name], delegates[fn.name] = set(), set()
        for node in ast.walk(fn):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "self"
            ):
                continue
            if node.func.attr == "api_call":
                if node.args and _literal(node.args[0]) is not None:
                    direct[fn.name].add(str(_literal(node.args[0])))
            else:
                delegates[fn.name].add(node.func.attr)

    def resolve(name: str, seen: frozenset[str]) -> set[str]:
        found = set(direct.get(name, ()))
        for other in delegates.get(name, ()):
            if other in direct and other not in seen:
                found |= resolve(other, seen | {other})
        return found

    resolved = {name: frozenset(resolve(name, frozenset({name}))) for name in direct}
    return {
        name: methods
        for name, methods in resolved.items()
        if methods and not name.startswith("_") and name != "api_call"
    }


def _literal(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, sdk: dict[str, frozenset[str]], usage: WebApiUsage) -> None:
        self.path = path
        self.sdk = sdk
        self.usage = usage
        self.scope: list[str] = []
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []

    def _site(self, node: ast.AST) -> CallSite:
        return CallSite(self.path, getattr(node, "lineno", 0), ".".join(self.scope))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.functions.append(node)
        self.generic_visit(node)
        self.functions.pop()
        self.scope.pop()

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in WRAPPERS:
            self._named(node, node.args[1] if len(node.args) > 1 else _kwarg(node, "method"))
        elif isinstance(func, ast.Attribute) and func.attr == "api_call":
            self._named(node, node.args[0] if node.args else _kwarg(node, "api_method"))
        elif isinstance(func, ast.Attribute) and func.attr in self.sdk:
            for method in sorted(self.sdk[func.attr]):
                self.usage.calls.append(MethodCall(method, self._site(node)))
        elif isinstance(func, ast.Name) and func.id == "say":
            self.usage.calls.append(MethodCall(SAY_METHOD, self._site(node)))
        self.generic_visit(node)

    def _named(self, node: ast.Call, arg: ast.expr | None) -> None:
        method = _literal(arg)
        if method is not None:
            self.usage.calls.append(MethodCall(method, self._site(node)))
        elif not self._forwards(arg):
            self.usage.dynamic.append(self._site(node))

    def _forwards(self, arg: ast.expr | None) -> bool:
        """Is this a wrapper passing on its own method parameter (its callers are checked)?"""
        if not self.functions or not isinstance(arg, ast.Name):
            return False
        function = self.functions[-1]
        if function.name not in WRAPPERS | {"api_call"}:
            return False
        a = function.args
        params = [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]
        return arg.id in params


def _kwarg(node: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg == name), None)
