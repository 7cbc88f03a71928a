"""The end of `firewatch check-config`: the settings `firewatch run` still needs, the bot
scopes the Slack installation lacks (when Slack can be reached), and one verdict line.

"configuration OK" is printed only when nothing is missing: a missing required setting or
a missing scope says "configuration incomplete" instead. The exit code stays 0 for both
(they are not invalid values, which exit 2 earlier); `firewatch run` refuses to start
without the settings, and serves with a degraded /health without the scopes.
"""

from __future__ import annotations

import asyncio
import sys

from bot.config import Settings
from bot.slack import messages
from bot.slack.auth import ScopeCheck, check_scopes

CONFIG_OK = "configuration OK"
CONFIG_INCOMPLETE = "configuration incomplete: {what} (see the warnings above)"
SETTINGS_MISSING = "{count} setting(s) `firewatch run` needs"
SCOPES_MISSING = "{count} Slack bot scope(s) missing"
WARNING = "warning: {problem}"
SETTING_WARNING = "warning: {problem} (needed by `firewatch run`)"


def verdict(settings: Settings, problems: list[str], *, label_width: int) -> int:
    """Print the scope check and the warnings, then the verdict line; the exit code."""
    scopes = slack_scopes(settings)
    if scopes is None:
        status = messages.SCOPES_NO_TOKEN
    elif scopes.unchecked is not None:
        status = messages.SCOPES_NOT_CHECKED.format(reason=scopes.unchecked)
    elif scopes.missing:
        status = messages.SCOPES_MISSING_LIST.format(scopes=", ".join(scopes.missing))
    else:
        status = messages.SCOPES_ALL_GRANTED.format(count=len(scopes.granted))
    print(f"{'slack scopes'.ljust(label_width)}  {status}")
    for problem in problems:
        print(SETTING_WARNING.format(problem=problem), file=sys.stderr)
    missing = scopes.missing if scopes is not None else {}
    for scope, fails in missing.items():
        line = messages.SCOPE_MISSING.format(scope=scope, fails=fails)
        print(WARNING.format(problem=line), file=sys.stderr)
    incomplete = []
    if problems:
        incomplete.append(SETTINGS_MISSING.format(count=len(problems)))
    if missing:
        incomplete.append(SCOPES_MISSING.format(count=len(missing)))
    if incomplete:
        print(CONFIG_INCOMPLETE.format(what="; ".join(incomplete)))
    else:
        print(CONFIG_OK)
    return 0


def slack_scopes(settings: Settings) -> ScopeCheck | None:
    """auth.test's granted scopes against what the code needs; None without a bot token
    worth trying (then the scopes cannot be checked)."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    if not token.startswith("xoxb-"):
        return None
    seconds = min(settings.slack_timeout_seconds, 10.0)
    return asyncio.run(check_scopes(token, settings.slack_api_url, seconds))
