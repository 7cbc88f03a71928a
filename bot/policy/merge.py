"""Merging a team's policy data over the built-in default (see `bot.policy.loader`'s
docstring for the rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

REPLACED_SECTIONS = frozenset({"severities", "checklist"})


def merge_policy_data(default: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """The override merged over the default (see the module docstring for the rules)."""
    merged = dict(default)
    for section, value in override.items():
        if value is None:
            merged.pop(section, None)
        elif section in REPLACED_SECTIONS:
            merged[section] = _drop_nulls(value)
        else:
            merged[section] = _merge(default.get(section), value)
    return merged


def _merge(base: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    if not isinstance(base, dict):
        return _drop_nulls(patch)
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = _merge(base.get(key), value)
    return merged


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    return value
