"""Block Kit for the public status page (issue 24): the components and impact inputs of
the declare and status forms, the public update input, the maintenance form, and the
answers of `/incident component` and `/incident maintenance list`.

Component names come from the policy and titles from people: both are escaped in mrkdwn
and taken as they are in plain_text (options, labels), which Slack does not parse.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    DateTimePickerElement,
    InputBlock,
    Option,
    OptionGroup,
    StaticMultiSelectElement,
    StaticSelectElement,
)

from bot.domain.policy import Policy
from bot.domain.status_page import Component, ComponentState, Maintenance, worst
from bot.services.status_page import MAINTENANCE_TITLE_MAX, PUBLIC_UPDATE_MAX
from bot.slack import messages
from bot.slack.blocks.common import (
    OPTION_TEXT_MAX,
    Payload,
    SlackBlock,
    Zone,
    context,
    escape,
    fit,
    input_block,
    modal,
    option,
    plain,
    policy_zone,
    sections,
    slack_date,
    text_input,
)
from bot.slack.ids import VALUE, StatusPageIds

MAX_OPTIONS = 100  # Slack's limit for a select's options (all groups together)
# What an incident can say of a component (maintenance and operational are not impacts).
IMPACTS = (
    ComponentState.DEGRADED_PERFORMANCE,
    ComponentState.PARTIAL_OUTAGE,
    ComponentState.MAJOR_OUTAGE,
)
# `/incident component <key> <state>`: the short words, and each state's own value.
STATE_WORDS: dict[str, ComponentState] = {
    "operational": ComponentState.OPERATIONAL,
    "degraded": ComponentState.DEGRADED_PERFORMANCE,
    "partial": ComponentState.PARTIAL_OUTAGE,
    "major": ComponentState.MAJOR_OUTAGE,
    "maintenance": ComponentState.UNDER_MAINTENANCE,
    **{state.value: state for state in ComponentState},
}
AUTO = "auto"
NAMES_SHOWN = 600  # characters of a maintenance's component names in a list


def _options(components: Sequence[Component], *, with_group: bool = False) -> list[Option]:
    """One option per component; `with_group`: its group named first ("Login · SSOe")."""
    return [
        option(c.key, f"{c.group} · {c.name}" if with_group and c.group else c.name)
        for c in components[:MAX_OPTIONS]
    ]


def _grouped(components: Sequence[Component]) -> list[OptionGroup]:
    """Option groups by the components' `group`, in the policy's order (those without
    one under "Other")."""
    groups: dict[str, list[Component]] = {}
    for component in components[:MAX_OPTIONS]:
        groups.setdefault(component.group or messages.COMPONENTS_OTHER_GROUP, []).append(component)
    return [
        OptionGroup(label=plain(name, OPTION_TEXT_MAX), options=_options(members))
        for name, members in groups.items()
    ]


def components_input(
    policy: Policy,
    label: str,
    *,
    chosen: Iterable[str] = (),
    optional: bool = True,
    hint: str | None = None,
) -> InputBlock:
    """A multi-select of the policy's components, pre-selected with `chosen` (keys the
    policy no longer lists are left out). Grouped when they name groups, unless `chosen`
    spans groups: Slack refuses initial options from more than one option group
    (slackapi/bolt-js#1496), so then each option names its group instead."""
    components = policy.components
    wanted = set(chosen)
    spans = len({c.group for c in components[:MAX_OPTIONS] if c.key in wanted}) > 1
    grouped = any(c.group for c in components) and not spans
    options = _options(components, with_group=spans)
    initial = [o for o in options if o.value in wanted] or None
    element = StaticMultiSelectElement(
        action_id=VALUE,
        placeholder=plain(messages.COMPONENTS_PLACEHOLDER, OPTION_TEXT_MAX),
        options=None if grouped else options,
        option_groups=_grouped(components) if grouped else None,
        initial_options=initial,
    )
    return input_block(StatusPageIds.COMPONENTS, label, element, optional=optional, hint=hint)


def impact_input(initial: ComponentState | None = None) -> InputBlock:
    """How the chosen components are affected; major outage when left empty."""
    options = [option(state.value, state.label) for state in IMPACTS]
    chosen = next((o for o in options if initial is not None and o.value == initial.value), None)
    element = StaticSelectElement(action_id=VALUE, options=options, initial_option=chosen)
    return input_block(
        StatusPageIds.COMPONENT_STATE,
        messages.COMPONENT_IMPACT_LABEL,
        element,
        optional=True,
        hint=messages.COMPONENT_IMPACT_HINT,
    )


def incident_component_inputs(
    policy: Policy, effects: Mapping[str, ComponentState] | None = None
) -> list[SlackBlock]:
    """The declare and status forms' status page inputs; none when the policy lists no
    components. `effects`: what the incident declares now (the status form)."""
    if not policy.components:
        return []
    effects = effects or {}
    return [
        components_input(policy, messages.COMPONENTS_LABEL, chosen=effects),
        impact_input(worst(effects.values()) if effects else None),
    ]


def public_update_input(*, hint: str = messages.PUBLIC_UPDATE_HINT) -> InputBlock:
    return text_input(
        StatusPageIds.PUBLIC_UPDATE,
        messages.PUBLIC_UPDATE_LABEL,
        limit=PUBLIC_UPDATE_MAX,
        optional=True,
        hint=hint,
    )


def _picker(block_id: str, label: str, initial: datetime) -> InputBlock:
    element = DateTimePickerElement(action_id=VALUE, initial_date_time=int(initial.timestamp()))
    return input_block(block_id, label, element)


def maintenance_modal(policy: Policy, now: datetime) -> Payload:
    """The maintenance form: starting at the next full hour, for an hour."""
    start = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    blocks: list[SlackBlock] = [
        text_input(
            StatusPageIds.MAINTENANCE_TITLE,
            messages.MAINTENANCE_TITLE_LABEL,
            limit=MAINTENANCE_TITLE_MAX,
            multiline=False,
            hint=messages.MAINTENANCE_TITLE_HINT,
        ),
        components_input(policy, messages.MAINTENANCE_COMPONENTS_LABEL, optional=False),
        _picker(StatusPageIds.STARTS, messages.MAINTENANCE_STARTS_LABEL, start),
        _picker(StatusPageIds.ENDS, messages.MAINTENANCE_ENDS_LABEL, start + timedelta(hours=1)),
    ]
    return modal(
        StatusPageIds.MAINTENANCE_MODAL, messages.MAINTENANCE_MODAL_TITLE, blocks, "Schedule"
    )


def _component_line(key: str, shown: Mapping[str, Any]) -> str:
    state = ComponentState(shown["state"])
    line = messages.COMPONENT_LINE.format(key=key, name=escape(shown["name"]), state=state.label)
    return line + (messages.COMPONENT_SET_BY_HAND if shown.get("set_by_hand") else "")


def components_answer(document: Mapping[str, Any]) -> tuple[str, list[Payload]]:
    """`/incident component`: every component and its state on the public page now."""
    components: Mapping[str, Mapping[str, Any]] = document["components"]
    lines = [_component_line(key, shown) for key, shown in components.items()]
    heading = messages.COMPONENTS_HEADING.format(count=len(lines))
    blocks: list[SlackBlock] = [*sections([heading, *lines]), context(messages.COMPONENT_USAGE)]
    return heading, [block.to_dict() for block in blocks]


def maintenance_answer(
    maintenances: Sequence[Maintenance], policy: Policy, now: datetime, zone: Zone
) -> tuple[str, list[Payload]]:
    """`/incident maintenance list`: maintenance in progress or to come."""
    names = {c.key: c.name for c in policy.components}
    lines = [
        messages.MAINTENANCE_LINE.format(
            id=m.id,
            title=escape(m.title),
            components=fit(", ".join(names.get(key, key) for key in m.components), NAMES_SHOWN),
            starts=slack_date(m.starts_at, zone),
            ends=slack_date(m.ends_at, zone),
            now=messages.MAINTENANCE_NOW if m.in_progress(now) else "",
        )
        for m in maintenances
    ]
    if lines:
        heading = messages.MAINTENANCE_HEADING.format(count=len(lines))
    else:
        heading = messages.MAINTENANCE_NONE
    blocks: list[SlackBlock] = [*sections([heading, *lines]), context(messages.MAINTENANCE_USAGE)]
    return heading, [block.to_dict() for block in blocks]


def maintenance_scheduled_modal(
    maintenance_id: int,
    title: str,
    keys: Sequence[str],
    starts: datetime,
    ends: datetime,
    *,
    policy: Policy,
) -> Payload:
    """What replaces the maintenance form once it is scheduled."""
    names = {c.key: c.name for c in policy.components}
    zone = policy_zone(policy)
    text = messages.MAINTENANCE_SCHEDULED.format(
        id=maintenance_id,
        title=escape(title),
        components=fit(", ".join(names.get(key, key) for key in keys), NAMES_SHOWN),
        starts=slack_date(starts, zone),
        ends=slack_date(ends, zone),
    )
    blocks = [*sections([text])]
    return modal(
        StatusPageIds.MAINTENANCE_MODAL,
        messages.MAINTENANCE_SCHEDULED_TITLE,
        blocks,
        None,
        close="Done",
    )
