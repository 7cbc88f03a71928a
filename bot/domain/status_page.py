"""The public status page's rules (issue 24): components, their states, and the JSON
document `/status.json` serves.

Pure: no SQL, HTTP or Slack. Callers load the open incidents, their declared effects and
public updates, the scheduled maintenance and the states set by hand, and pass them in
with the time from the Clock.

A component's state is the worst of its open incidents' declared effects and of the
scheduled maintenance in progress, unless someone set it by hand (that wins, better or
worse). Badness, from best to worst: operational, under maintenance, degraded
performance, partial outage, major outage (planned maintenance is news, but an outage
during it is worse news).

Nothing internal is published: of an incident, only its reference, status and start
time, the components it affects and its public updates go into the document; never its
title, report, timeline, people or channel. The document's shape is versioned
(`"version": 1`) and described by docs/status.schema.json.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field

from bot.domain.checklist import ConsistencyError, Problem
from bot.domain.incident import Incident, Status, reference
from bot.domain.policy_parts import FROZEN, Key

DOCUMENT_VERSION = 1


class Component(BaseModel):
    """A part of the service the public sees, as the policy's `components` lists it."""

    model_config = FROZEN

    key: Key
    name: str = Field(min_length=1, max_length=100)
    group: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, min_length=1, max_length=500)


def _unique_component_keys(items: tuple[Component, ...]) -> tuple[Component, ...]:
    first: dict[str, int] = {}
    problems: list[Problem] = []
    for index, item in enumerate(items):
        if item.key in first:
            problems.append(
                Problem(
                    (index, "key"),
                    f"component key {item.key!r} is used twice; first at [{first[item.key]}]",
                )
            )
        first.setdefault(item.key, index)
    if problems:
        raise ConsistencyError(problems)
    return items


Components = Annotated[tuple[Component, ...], AfterValidator(_unique_component_keys)]
"""The policy's components, keys not repeating."""


class ComponentState(StrEnum):
    OPERATIONAL = "operational"
    UNDER_MAINTENANCE = "under_maintenance"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"

    @property
    def badness(self) -> int:
        """0 for operational, higher is worse (the order the members are listed in)."""
        return _ORDER.index(self)

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


_ORDER = tuple(ComponentState)


def worst(states: Iterable[ComponentState]) -> ComponentState:
    """The worst of `states`; operational when there are none."""
    return max(states, key=lambda state: state.badness, default=ComponentState.OPERATIONAL)


@dataclass(frozen=True)
class Maintenance:
    """Scheduled maintenance: public by nature (it is announced), in progress in
    [starts_at, ends_at)."""

    id: str
    title: str
    components: Collection[str]
    starts_at: datetime
    ends_at: datetime

    def in_progress(self, now: datetime) -> bool:
        return _utc(self.starts_at) <= _utc(now) < _utc(self.ends_at)


@dataclass(frozen=True)
class PublicUpdate:
    """A text written for the public (the status modal's "public update" field)."""

    at: datetime
    status: Status
    text: str


@dataclass(frozen=True)
class StatusIncident:
    """An incident as the status page takes it: only what is published of the record
    (its number, status and declaration time), the state it declares for each component
    it affects, and its public updates. Nothing else of the record can reach the page."""

    id: int
    status: Status
    declared_at: datetime
    effects: Mapping[str, ComponentState]
    public_updates: Sequence[PublicUpdate] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        incident: Incident,
        effects: Mapping[str, ComponentState],
        public_updates: Sequence[PublicUpdate] = (),
    ) -> StatusIncident:
        """The published part of an internal record."""
        return cls(incident.id, incident.status, incident.declared_at, effects, public_updates)

    @property
    def ref(self) -> str:
        return reference(self.id)


def component_states(
    components: Iterable[Component],
    open_incidents_effects: Iterable[Mapping[str, ComponentState]],
    maintenances: Iterable[Maintenance],
    overrides: Mapping[str, ComponentState],
    now: datetime,
) -> dict[str, ComponentState]:
    """Each component's state now, by key, in the policy's order.

    The worst of the open incidents' declared effects on it and of the maintenance in
    progress on it; a state set by hand (`overrides`) wins. Effects, maintenance and
    overrides naming a component the policy does not list are ignored.
    """
    keys = [component.key for component in components]
    found: dict[str, list[ComponentState]] = {key: [] for key in keys}
    for effects in open_incidents_effects:
        for key, state in effects.items():
            if key in found:
                found[key].append(state)
    for maintenance in maintenances:
        if maintenance.in_progress(now):
            for key in maintenance.components:
                if key in found:
                    found[key].append(ComponentState.UNDER_MAINTENANCE)
    return {key: overrides.get(key, worst(found[key])) for key in keys}


def overall(states: Mapping[str, ComponentState] | Iterable[ComponentState]) -> ComponentState:
    """The page's headline state: the worst component's (operational with none)."""
    values = states.values() if isinstance(states, Mapping) else states
    return worst(values)


def status_document(
    components: Sequence[Component],
    incidents: Iterable[StatusIncident],
    maintenances: Iterable[Maintenance],
    overrides: Mapping[str, ComponentState],
    now: datetime,
) -> dict[str, Any]:
    """The `/status.json` document, version 1 (docs/status.schema.json).

    Current incidents are the open ones; resolved and closed ones are left out, and
    their effects no longer count. Maintenance is listed while in progress or to come.
    """
    current = [item for item in incidents if not item.status.ended]
    maintenances = list(maintenances)
    states = component_states(
        components, [item.effects for item in current], maintenances, overrides, now
    )
    known = set(states)
    headline = overall(states)
    return {
        "version": DOCUMENT_VERSION,
        "generated_at": iso(now),
        "overall": {"state": headline.value, "label": headline.label},
        "components": {
            component.key: {
                "name": component.name,
                "group": component.group,
                "description": component.description,
                "state": states[component.key].value,
                "set_by_hand": component.key in overrides,
            }
            for component in components
        },
        "incidents": [public_incident(item, components) for item in current],
        "maintenances": [
            _public_maintenance(item, known, now)
            for item in sorted(maintenances, key=lambda m: _utc(m.starts_at))
            if _utc(item.ends_at) > _utc(now)
        ],
    }


def public_incident(item: StatusIncident, components: Sequence[Component]) -> dict[str, Any]:
    """An incident as the public sees it (open or not): its reference, status, start,
    the components it affects and its public updates, newest first."""
    affected = {c.key: item.effects[c.key] for c in components if c.key in item.effects}
    names = [c.name for c in components if c.key in affected]
    headline = worst(affected.values())
    name = f"{headline.label}: {', '.join(names)}" if names else "Service disruption"
    updates = sorted(item.public_updates, key=lambda update: _utc(update.at), reverse=True)
    return {
        "id": item.ref,
        "name": name,
        "status": item.status.value,
        "started_at": iso(item.declared_at),
        "components": {key: state.value for key, state in affected.items()},
        "updates": [
            {"at": iso(update.at), "status": update.status.value, "text": update.text}
            for update in updates
        ],
    }


def _public_maintenance(item: Maintenance, known: set[str], now: datetime) -> dict[str, Any]:
    return {
        "id": item.id,
        "name": item.title,
        "starts_at": iso(item.starts_at),
        "ends_at": iso(item.ends_at),
        "in_progress": item.in_progress(now),
        "components": [key for key in item.components if key in known],
    }


class UnknownComponent(LookupError):
    """`?component=` named no component of the document."""

    def __init__(self, key: str, known: Iterable[str]) -> None:
        self.key, self.known = key, tuple(known)
        super().__init__(key)

    def __str__(self) -> str:
        return f"no component {self.key!r}; known: {', '.join(self.known) or '(none)'}"


def component_answer(document: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Is component `key` affected right now? (`/status.json?component=ssoe`)

    The component's state, whether it is affected (any state but operational), and the
    current incidents and maintenance in progress that concern it; `UnknownComponent`
    when the document has no such component.
    """
    components = document["components"]
    if key not in components:
        raise UnknownComponent(key, components)
    component = components[key]
    return {
        "version": document["version"],
        "generated_at": document["generated_at"],
        "component": key,
        "name": component["name"],
        "state": component["state"],
        "affected": component["state"] != ComponentState.OPERATIONAL.value,
        "incidents": [
            incident["id"] for incident in document["incidents"] if key in incident["components"]
        ],
        "maintenances": [
            maintenance["id"]
            for maintenance in document["maintenances"]
            if maintenance["in_progress"] and key in maintenance["components"]
        ],
    }


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken to be UTC already (as SQLite returns it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """`moment` as the document writes times: UTC, seconds, a Z."""
    return _utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
