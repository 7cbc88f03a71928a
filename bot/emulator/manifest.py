"""What the repository's ``manifest.yaml`` grants and asks of Slack, read once.

The emulator grants exactly the manifest's bot scopes unless a test says otherwise, and its
slash-command helper escapes the text as Slack does when ``/incident`` has ``should_escape``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

#: The app manifest at the repository's root. `bot/emulator/manifest.yaml` is a symbolic link
#: to it, which a built package (`pip install .`, the Docker image) carries as a copy: there
#: the root has none, and `firewatch demo` reads the copy.
_ROOT_MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yaml"
MANIFEST_PATH = (
    _ROOT_MANIFEST if _ROOT_MANIFEST.is_file() else Path(__file__).with_name("manifest.yaml")
)


@cache
def _manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST_PATH.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{MANIFEST_PATH} is not a YAML mapping")
    return data


def manifest_bot_scopes() -> frozenset[str]:
    """The bot scopes ``oauth_config.scopes.bot`` asks for."""
    scopes = _manifest().get("oauth_config", {}).get("scopes", {}).get("bot") or []
    return frozenset(str(s) for s in scopes)


def manifest_should_escape(command: str = "/incident") -> bool:
    """Whether Slack escapes mentions, channels and links in ``command``'s text (default off)."""
    for entry in _manifest().get("features", {}).get("slash_commands") or []:
        if entry.get("command") == command:
            return bool(entry.get("should_escape", False))
    return False
