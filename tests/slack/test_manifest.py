"""manifest.yaml against Slack's official schema and against the code; the Dockerfile, lightly.

What the code registers is read from the real Bolt app: `Firewatch(settings)` builds it
while AsyncApp's public registration methods (`command`, `shortcut`, `event`, ...) are
wrapped to record their arguments. The Web API calls the code makes are read from the
source by `bot.slack.api_usage` and must each have an entry in `bot/slack/scopes.py` (the
conversation types it touches); the bot scopes must be exactly what that module derives,
one scope per method and conversation type, each checked against Slack's own method
reference in `shared/slack-reference/slack-methods/`.

The reference data lives in `shared/` beside the repository (`<dir>/main` and
`<dir>/shared`); set FIREWATCH_SHARED_DIR to use another copy.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
import yaml
from slack_bolt.async_app import AsyncApp

from bot.app import Firewatch
from bot.config import Settings
from bot.slack import ids, scopes
from bot.slack.api_usage import CallSite, find_web_api_calls, slack_sdk_methods
from bot.slack.server import EVENTS_PATH

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "manifest.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
SHARED_ENV = "FIREWATCH_SHARED_DIR"

# Bot events → the one scope Slack needs to deliver them (None: no scope).
EVENT_SCOPES: dict[str, str | None] = {
    "app_mention": "app_mentions:read",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "app_home_opened": None,
    "app_uninstalled": None,
    "tokens_revoked": None,
}


# --- reference data and the manifest ----------------------------------------------------


def slack_reference() -> Path:
    configured = os.environ.get(SHARED_ENV)
    shared = Path(configured) if configured else REPO.parent / "shared"
    reference = shared / "slack-reference"
    if not reference.is_dir():
        pytest.fail(
            f"Slack reference data not found at {reference}: the tests expect the `shared/` "
            f"folder beside the repository ({REPO.parent / 'shared'}), or {SHARED_ENV} "
            "pointing at a copy of it"
        )
    return reference


@pytest.fixture(scope="module")
def reference() -> Path:
    return slack_reference()


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "manifest.yaml must be a mapping"
    return data


def bot_scopes(manifest: dict[str, Any]) -> list[str]:
    return list(manifest.get("oauth_config", {}).get("scopes", {}).get("bot", []))


def bot_events(manifest: dict[str, Any]) -> list[str]:
    return list(manifest.get("settings", {}).get("event_subscriptions", {}).get("bot_events", []))


def method_scopes(reference: Path, method: str) -> frozenset[str]:
    """The bot scopes Slack accepts for `method` (any one of them will do)."""
    path = reference / "slack-methods" / f"{method}.json"
    if not path.is_file():
        pytest.fail(
            f"the code calls {method}, but {path} is missing: add Slack's reference for it "
            "so the test knows which scope it needs"
        )
    data = json.loads(path.read_text(encoding="utf-8"))
    return frozenset((data.get("scope") or {}).get("bot") or ())


# --- what the code registers --------------------------------------------------------------

# AsyncApp's public listener registration methods, recorded while Firewatch builds its app.
REGISTRARS = (
    "command",
    "shortcut",
    "global_shortcut",
    "message_shortcut",
    "event",
    "message",
    "action",
    "block_action",
    "attachment_action",
    "view",
    "view_submission",
    "view_closed",
    "options",
    "block_suggestion",
    "dialog_submission",
    "dialog_cancellation",
    "dialog_suggestion",
    "function",
    "step",
    "assistant",
)
INTERACTIVE = {
    "shortcut",
    "global_shortcut",
    "message_shortcut",
    "action",
    "block_action",
    "attachment_action",
    "view",
    "view_submission",
    "view_closed",
    "options",
    "block_suggestion",
    "dialog_submission",
    "dialog_cancellation",
    "dialog_suggestion",
}
OPTIONS_LOADS = {"options", "block_suggestion", "dialog_suggestion"}
NOT_CHECKED_HERE = {"function", "step", "assistant"}


@dataclass(frozen=True)
class Registration:
    kind: str
    target: Any


def _recording(
    kind: str, original: Callable[..., Any], seen: list[Registration]
) -> Callable[..., Any]:
    def register(self: AsyncApp, *args: Any, **kwargs: Any) -> Any:
        target = args[0] if args else next(iter(kwargs.values()), None)
        seen.append(Registration(kind, target))
        return original(self, *args, **kwargs)

    return register


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> list[Registration]:
    """Every listener the real app registers (built offline: no Slack, no database I/O)."""
    data = tmp_path_factory.mktemp("manifest")
    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-manifest-test",
        SLACK_SIGNING_SECRET="manifest-test-signing-secret",
        SLACK_APP_TOKEN=None,
        SLACK_API_URL="http://127.0.0.1:9/api/",
        FIREWATCH_DATABASE_URL=f"sqlite+aiosqlite:///{(data / 'firewatch.db').as_posix()}",
        FIREWATCH_POLICY_FILE=None,
        FIREWATCH_ENV="test",
    )
    seen: list[Registration] = []
    with pytest.MonkeyPatch.context() as patch:
        for kind in REGISTRARS:
            patch.setattr(AsyncApp, kind, _recording(kind, getattr(AsyncApp, kind), seen))
        app = Firewatch(settings)
    assert app.bolt is not None, "Firewatch built no Bolt app with a token and a secret"
    assert seen, "no listener registration was recorded; has the registration API changed?"
    unchecked = sorted({r.kind for r in seen} & NOT_CHECKED_HERE)
    assert not unchecked, f"the app registers {unchecked}: extend tests/slack/test_manifest.py"
    return seen


def literal(registration: Registration) -> str:
    target = registration.target
    if isinstance(target, ids.Callback):
        return target.value
    if not isinstance(target, str):
        pytest.fail(
            f"app.{registration.kind}({target!r}) is not a literal string, so the manifest "
            "cannot be checked against it: register listeners with the ids in bot/slack/ids.py"
        )
    return target


def registered_commands(registered: list[Registration]) -> set[str]:
    return {literal(r) for r in registered if r.kind == "command"}


def registered_shortcuts(registered: list[Registration]) -> set[tuple[str | None, str]]:
    """(manifest shortcut type or None for either, callback_id)."""
    out: set[tuple[str | None, str]] = set()
    for r in registered:
        if r.kind == "global_shortcut":
            out.add(("global", literal(r)))
        elif r.kind == "message_shortcut":
            out.add(("message", literal(r)))
        elif r.kind == "shortcut" and isinstance(r.target, dict):
            types = {"shortcut": "global", "message_action": "message"}
            kind = types.get(str(r.target.get("type")))
            out.add((kind, literal(Registration("shortcut", r.target.get("callback_id")))))
        elif r.kind == "shortcut":
            out.add((None, literal(r)))
    return out


def event_family(event: str) -> str:
    """`message.channels` and its kin are all the `message` event to a listener."""
    return event.split(".", 1)[0]


def registered_events(registered: list[Registration]) -> set[str]:
    out: set[str] = set()
    for r in registered:
        if r.kind == "message":
            out.add("message")
        elif r.kind == "event" and isinstance(r.target, dict):
            out.add(literal(Registration("event", r.target.get("type"))))
        elif r.kind == "event":
            out.add(literal(r))
    return out


# --- the manifest against Slack's schema ------------------------------------------------


def test_manifest_is_valid_against_slacks_schema(manifest: dict[str, Any], reference: Path) -> None:
    schema_path = reference / "manifest-schema" / "manifest.schema.1.0.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    assert validator_class is jsonschema.Draft7Validator, schema.get("$schema")
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(manifest), key=lambda e: list(map(str, e.path))
    )
    assert not errors, "manifest.yaml does not match Slack's schema:\n" + "\n".join(
        f"  {'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors
    )


def test_background_color_is_a_hex_color(manifest: dict[str, Any], reference: Path) -> None:
    # The schema writes this rule with the keyword "regex", which JSON Schema ignores.
    schema_path = reference / "manifest-schema" / "manifest.schema.1.0.0.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    display = schema["definitions"]["app-manifests.v1.display_information.schema"]
    pattern = display["properties"]["background_color"]["regex"]
    color = manifest["display_information"].get("background_color", "#000")
    assert re.fullmatch(pattern, color), f"background_color {color!r} is not {pattern}"


def test_manifest_declares_a_bot_user(manifest: dict[str, Any]) -> None:
    assert manifest["display_information"]["name"] == "Firewatch"
    bot_user = manifest["features"]["bot_user"]
    assert bot_user["display_name"] == "firewatch"
    assert bot_user["always_online"] is True


# --- the manifest against what the code registers ---------------------------------------


def test_every_slash_command_the_code_registers_is_declared_and_vice_versa(
    manifest: dict[str, Any], registered: list[Registration]
) -> None:
    declared = {c["command"] for c in manifest["features"].get("slash_commands", [])}
    in_code = registered_commands(registered)
    assert ids.COMMAND in in_code
    assert declared == in_code, f"manifest: {sorted(declared)}; code: {sorted(in_code)}"


def test_every_shortcut_the_code_registers_is_declared_and_vice_versa(
    manifest: dict[str, Any], registered: list[Registration]
) -> None:
    declared = {(s["type"], s["callback_id"]) for s in manifest["features"].get("shortcuts", [])}
    in_code = registered_shortcuts(registered)
    assert any(cid == ids.Callback.DECLARE_SHORTCUT for _, cid in in_code)

    def matches(code: tuple[str | None, str], manifest_entry: tuple[str, str]) -> bool:
        return code[1] == manifest_entry[1] and code[0] in {None, manifest_entry[0]}

    undeclared = sorted(c for c in in_code if not any(matches(c, d) for d in declared))
    unhandled = sorted(d for d in declared if not any(matches(c, d) for c in in_code))
    assert not undeclared, f"shortcuts the code handles but manifest.yaml lacks: {undeclared}"
    assert not unhandled, f"shortcuts in manifest.yaml that no listener handles: {unhandled}"


def test_bot_events_are_exactly_the_events_the_code_listens_to(
    manifest: dict[str, Any], registered: list[Registration]
) -> None:
    events = bot_events(manifest)
    assert len(events) == len(set(events)), f"duplicate bot_events: {events}"
    declared = {event_family(e) for e in events}
    in_code = registered_events(registered)
    assert declared == in_code, f"bot_events: {sorted(events)}; code: {sorted(in_code)}"
    assert set(events) == set(ids.EVENTS), "bot/slack/ids.py EVENTS is out of date"


def test_interactivity_is_enabled_for_shortcuts_and_modals(
    manifest: dict[str, Any], registered: list[Registration]
) -> None:
    interactivity = manifest["settings"].get("interactivity", {})
    kinds = {r.kind for r in registered}
    if kinds & INTERACTIVE:
        assert interactivity.get("is_enabled") is True, f"the code registers {kinds & INTERACTIVE}"
    if kinds & OPTIONS_LOADS and not manifest["settings"].get("socket_mode_enabled"):
        assert interactivity.get("message_menu_options_url"), "options loads need their URL"


def test_view_callbacks_are_not_declared_as_shortcuts(manifest: dict[str, Any]) -> None:
    declared = {s["callback_id"] for s in manifest["features"].get("shortcuts", [])}
    assert ids.Callback.DECLARE_MODAL.value not in declared


# --- request URLs -------------------------------------------------------------------------


def test_every_request_url_is_the_servers_events_path(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    urls = {
        "features.slash_commands[].url": [
            c.get("url") for c in manifest["features"]["slash_commands"]
        ],
        "settings.interactivity.request_url": [settings["interactivity"].get("request_url")],
        # Select Menus' options load URL: the incident picker's external_select
        "settings.interactivity.message_menu_options_url": [
            settings["interactivity"].get("message_menu_options_url")
        ],
        "settings.event_subscriptions.request_url": [
            settings["event_subscriptions"].get("request_url")
        ],
    }
    # HTTP mode (the default): Slack needs every URL. In Socket Mode it ignores them.
    assert settings.get("socket_mode_enabled") is False
    found = set()
    for where, values in urls.items():
        for url in values:
            assert url, f"{where} is missing (needed in HTTP mode)"
            assert url.startswith("https://"), f"{where}: Slack only calls https:// URLs"
            assert url.endswith(EVENTS_PATH), f"{where}: {url} does not end with {EVENTS_PATH}"
            found.add(url)
    assert len(found) == 1, f"all requests go to one Firewatch endpoint, got {sorted(found)}"


def test_settings_are_the_plain_single_workspace_ones(manifest: dict[str, Any]) -> None:
    settings = manifest["settings"]
    assert settings["org_deploy_enabled"] is False
    assert settings["token_rotation_enabled"] is False


# --- scopes: exactly what the code needs, per conversation type ---------------------------
#
# bot/slack/scopes.py is the single list of what Firewatch needs: each Web API call in the
# code (found by bot.slack.api_usage) with the conversation types it touches, the scope
# Slack checks for each (one per type: a DM needs im:*, channels:* does not cover it), the
# features' scopes and the prerequisites. The manifest must ask for exactly that.


def site_key(site: CallSite) -> str:
    return f"{site.path}:{site.function}"


def code_calls() -> set[tuple[str, str]]:
    """(method, "path:function") of every Web API call in the code."""
    return {(c.method, site_key(c.site)) for c in find_web_api_calls(REPO / "bot").calls}


def test_the_code_calls_web_api_methods_the_scanner_can_name() -> None:
    usage = find_web_api_calls(REPO / "bot")
    assert usage.calls, "no Web API call found under bot/: is the scanner broken?"
    # Wrappers forwarding their own method parameter (delivery.call, an api_call override)
    # are not reported; their callers are checked instead.
    assert not usage.dynamic, (
        "Web API calls whose method is not a string literal cannot be checked against the "
        f"manifest's scopes; name the method literally: {[str(s) for s in usage.dynamic]}"
    )


def test_every_web_api_call_in_the_code_has_an_entry_in_scopes_py() -> None:
    listed = {(use.method, use.site) for use in scopes.CALLS}
    found = code_calls()
    unlisted = sorted(found - listed)
    assert not unlisted, (
        "Web API calls with no entry in bot/slack/scopes.py CALLS (say which conversation "
        "types each touches and what fails without its scope):\n  "
        + "\n  ".join(f"{method} at {site}" for method, site in unlisted)
    )
    stale = sorted(listed - found)
    assert not stale, (
        "bot/slack/scopes.py CALLS lists calls the code no longer makes:\n  "
        + "\n  ".join(f"{method} at {site}" for method, site in stale)
    )


def test_every_call_has_a_scope_for_each_conversation_type_it_touches() -> None:
    problems = []
    for use in scopes.CALLS:
        try:
            needed = scopes.call_scopes(use)
        except scopes.UnknownNeed as exc:
            problems.append(f"{use.site}: {exc}")
            continue
        if needed and not use.fails:
            problems.append(f"{use.method} at {use.site}: say what fails without {needed}")
    assert not problems, "\n".join(problems)


def test_the_scope_per_conversation_type_is_one_slack_documents(reference: Path) -> None:
    """Each scope named in METHOD_SCOPES is among those Slack's reference lists for the
    method (the reference lists one per conversation type; which one applies is ours)."""
    called = {method for method, _ in code_calls()}
    problems = []
    for method, table in scopes.METHOD_SCOPES.items():
        path = reference / "slack-methods" / f"{method}.json"
        if not path.is_file():
            if method in called:
                problems.append(f"the code calls {method}, but {path} is missing")
            continue
        documented = method_scopes(reference, method)
        for kind, scope in table.items():
            if scope is None and documented:
                problems.append(f"{method} ({kind}): Slack lists {sorted(documented)}, not none")
            elif scope is not None and documented and scope not in documented:
                problems.append(f"{method} ({kind}): {scope} is not in {sorted(documented)}")
    assert not problems, "\n".join(problems)


def test_a_dm_needs_the_dm_scope_not_one_for_channels() -> None:
    assert scopes.scope_for("conversations.open", scopes.DM) == "im:write"
    assert scopes.scope_for("conversations.history", scopes.DM) == "im:history"
    assert scopes.scope_for("conversations.history", scopes.PUBLIC) == "channels:history"
    assert scopes.scope_for("conversations.list", scopes.PRIVATE) == "groups:read"
    assert scopes.scope_for("chat.postMessage", scopes.DM) == "chat:write"
    with pytest.raises(scopes.UnknownNeed):
        scopes.scope_for("conversations.open", scopes.PUBLIC)  # Slack opens DMs only
    with pytest.raises(scopes.UnknownNeed):
        scopes.scope_for("conversations.kick", scopes.PUBLIC)  # not written down
    dm_lookup = scopes.CallUse("conversations.history", "x.py:f", frozenset({scopes.DM}), "x")
    assert scopes.needed_scopes([dm_lookup])["im:history"] == ("x",)
    assert "channels:history" not in scopes.needed_scopes([dm_lookup])


def test_feature_scopes_are_those_of_the_manifests_commands_shortcuts_and_events(
    manifest: dict[str, Any],
) -> None:
    features = manifest.get("features", {})
    expected: set[str] = set()
    if features.get("slash_commands") or features.get("shortcuts"):
        expected.add(scopes.COMMANDS_SCOPE)
    for event in bot_events(manifest):
        if event not in EVENT_SCOPES:
            pytest.fail(f"bot event {event!r}: add the scope it needs to EVENT_SCOPES")
        if EVENT_SCOPES[event] is not None:
            expected.add(str(EVENT_SCOPES[event]))
    assert set(scopes.FEATURE_SCOPES) == expected, (
        "bot/slack/scopes.py FEATURE_SCOPES must be the scopes of the manifest's slash "
        f"commands, shortcuts and events: {sorted(expected)}"
    )


def test_bot_scopes_are_exactly_what_the_code_needs(manifest: dict[str, Any]) -> None:
    requested = bot_scopes(manifest)
    assert len(requested) == len(set(requested)), f"duplicate bot scopes: {requested}"
    needed = scopes.needed_scopes()
    missing = sorted(set(needed) - set(requested))
    superfluous = sorted(set(requested) - set(needed))
    assert not missing, "manifest.yaml lacks bot scopes the code needs:\n  " + "\n  ".join(
        f"{scope}: {'; '.join(needed[scope])}" for scope in missing
    )
    assert not superfluous, (
        f"manifest.yaml asks for bot scopes nothing needs: {superfluous} (or add the need "
        "to bot/slack/scopes.py)"
    )


def test_scope_prerequisites_are_requested_together(manifest: dict[str, Any]) -> None:
    requested = set(bot_scopes(manifest))
    for scope, prerequisite in scopes.PREREQUISITES.items():
        if scope in requested:
            assert prerequisite in requested, f"Slack grants {scope} only with {prerequisite}"
    alone = scopes.CallUse("users.lookupByEmail", "x.py:f", frozenset({scopes.ANY}), "x")
    assert set(scopes.needed_scopes([alone])) >= {"users:read.email", "users:read"}


def test_every_needed_scope_says_what_fails_without_it() -> None:
    for scope, features in scopes.needed_scopes().items():
        assert features, f"{scope}: no feature named"
        assert all(features), f"{scope}: an empty feature sentence"
        missing = scopes.missing_scopes(set(scopes.needed_scopes()) - {scope})
        assert list(missing) == [scope]
        assert missing[scope] == "; ".join(features)


def test_no_user_or_optional_scopes(manifest: dict[str, Any]) -> None:
    scopes_ = manifest.get("oauth_config", {}).get("scopes", {})
    assert set(scopes_) == {"bot"}, f"Firewatch acts as its bot only, not {sorted(scopes_)}"


# --- the scanner itself ------------------------------------------------------------------


def test_the_scanner_recognises_each_call_form(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "emulator").mkdir(parents=True)
    (package / "calls.py").write_text(
        "async def outbox(client, say, name):\n"
        "    await call(client, 'conversations.create', name='x')\n"
        "    await call(client, method='pins.add')\n"
        "    await client.api_call('chat.update', json={})\n"
        "    await client.api_call(api_method='reactions.add')\n"
        "    await client.views_open(trigger_id='t', view={})\n"
        "    await client.files_upload_v2(content='x')\n"
        "    await say('hello')\n"
        "    await client.api_call(name)\n"
        "    await client.unrelated_method()\n"
        "async def call(client, method, **kwargs):\n"
        "    return await client.api_call(method, json=kwargs)\n"
        "class Client:\n"
        "    async def api_call(self, api_method, **kwargs):\n"
        "        return await super().api_call(api_method, **kwargs)\n",
        encoding="utf-8",
    )
    (package / "emulator" / "server.py").write_text(
        "async def f(client):\n    await client.users_info(user='U1')\n", encoding="utf-8"
    )
    usage = find_web_api_calls(package)
    assert set(usage.methods) == {
        "conversations.create",
        "pins.add",
        "chat.update",
        "reactions.add",
        "views.open",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
        "chat.postMessage",
    }
    assert [(s.path, s.line, s.function) for s in usage.dynamic] == [("pkg/calls.py", 9, "outbox")]


def test_slack_sdk_convenience_methods_resolve_to_web_api_names() -> None:
    sdk = slack_sdk_methods()
    assert sdk["auth_test"] == {"auth.test"}
    assert sdk["chat_postMessage"] == {"chat.postMessage"}
    assert sdk["conversations_replies"] == {"conversations.replies"}
    assert "api_call" not in sdk


# --- Dockerfile ---------------------------------------------------------------------------


def dockerfile_instructions() -> Iterator[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    logical = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not logical and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            logical += stripped[:-1] + " "
            continue
        logical += stripped
        instruction, _, args = logical.partition(" ")
        yield instruction.upper(), args.strip()
        logical = ""


def final_stage() -> list[tuple[str, str]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "FROM":
            stages.append([])
        if not stages and instruction == "ARG":
            continue  # a build argument for FROM lines (the base image)
        assert stages, "the Dockerfile must start with FROM"
        stages[-1].append((instruction, args))
    assert len(stages) >= 2, "the Dockerfile should build in one stage and run in another"
    return stages[-1]


def exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"use the exec (JSON) form: {args}"
    return [str(v) for v in value]


def test_dockerfile_runs_firewatch_as_a_non_root_user() -> None:
    stage = final_stage()
    users = [args for instruction, args in stage if instruction == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    user = users[-1].split(":", 1)[0]
    assert user not in {"root", "0"}, f"USER {users[-1]} is root"


def test_dockerfile_entrypoint_runs_firewatch_and_accepts_subcommands() -> None:
    stage = dict(final_stage())
    entrypoint = exec_form(stage["ENTRYPOINT"])
    command = exec_form(stage["CMD"])
    # `docker run image` serves; `docker run image migrate` runs `firewatch migrate`.
    assert entrypoint == ["firewatch"]
    assert command == ["run"]


def test_dockerfile_health_check_needs_no_curl() -> None:
    stage = dict(final_stage())
    check = stage.get("HEALTHCHECK", "")
    assert "/health/live" in check
    assert not re.search(r"\b(curl|wget)\b", check), "the slim image has neither curl nor wget"
    words = shlex.split(check.split("CMD", 1)[1]) if "CMD" in check else []
    assert words[:2] == ["python", "-c"], f"HEALTHCHECK CMD should use python -c: {check}"


def test_dockerfile_exposes_the_port_and_the_data_volume() -> None:
    stage = final_stage()
    args = [a for i, a in stage if i == "EXPOSE"]
    assert any("3000" in a.split() for a in args)
    env = " ".join(a for i, a in stage if i == "ENV")
    assert re.search(r"\bFIREWATCH_DATA_DIR=/data\b", env)
    volumes = " ".join(a for i, a in stage if i == "VOLUME")
    assert "/data" in volumes


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".env", ".git", ".venv", "data"):
        assert pattern in ignored, f".dockerignore should exclude {pattern}"
