"""The public status page in Slack (issue 24): `/incident component` and
`/incident maintenance` (a feature module for bolt_app.FEATURES).

Answers need only the database and go back in the acknowledgement; the maintenance form
opens after it (bot/slack/follow_ups.py). Setting a state and scheduling maintenance
are checked against the policy's `set_component_state` and `schedule_maintenance`
(`Authority`), from the request's signed user, never from what a form carries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.permissions import Action as Can
from bot.domain.policy import Policy
from bot.domain.status_page import ComponentState
from bot.services.status_page import StatusPageService, UnknownComponents
from bot.slack import messages
from bot.slack.blocks.common import escape, policy_zone
from bot.slack.blocks.status_page import (
    AUTO,
    STATE_WORDS,
    components_answer,
    maintenance_answer,
    maintenance_modal,
    maintenance_scheduled_modal,
)
from bot.slack.deps import ListenerDeps
from bot.slack.errors import answer_errors
from bot.slack.ids import StatusPageIds as Ids
from bot.slack.listeners.forms import (
    errors,
    option_values,
    read_value,
    selected,
    state_values,
    view_key,
)
from bot.slack.permission import actor_of, refusal, refused_answer
from bot.slack.subcommands import Subcommand, ephemeral

WORD_SHOWN = 40  # of a word someone typed, echoed back


def component_key(policy: Policy, typed: str) -> str | None:
    """The policy's key for what was typed (keys are compared as typed, then lowercased)."""
    known = {c.key for c in policy.components}
    for key in (typed, typed.lower()):
        if key in known:
            return key
    return None


def parse_state(word: str) -> tuple[bool, ComponentState | None]:
    """A state word: (True, the state), (True, None) for `auto`, (False, None) when it is
    neither."""
    word = word.lower()
    if word == AUTO:
        return True, None
    found = STATE_WORDS.get(word)
    return found is not None, found


def moment(value: Any) -> datetime | None:
    """A datetimepicker's `selected_date_time` (Unix seconds) as a UTC time."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


class StatusPageListeners:
    def __init__(self, deps: ListenerDeps, page: StatusPageService) -> None:
        self.deps, self.page, self.authority = deps, page, deps.authority

    # --- /incident component ------------------------------------------------------------

    async def answer_component(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        policy = self.deps.policy()
        words = rest.split()
        if not policy.components:
            await ephemeral(ack, messages.STATUS_PAGE_OFF)
            return
        if not words:
            text, blocks = components_answer((await self.page.public_page()).document)
            await ephemeral(ack, text, blocks)
            return
        if len(words) != 2:
            await ephemeral(ack, messages.COMPONENT_USAGE)
            return
        key = component_key(policy, words[0])
        if key is None:
            await ephemeral(ack, self.unknown(policy, words[0]))
            return
        known, state = parse_state(words[1])
        if not known:
            valid = ", ".join(f"`{word}`" for word in STATE_WORDS)
            shown = escape(words[1][:WORD_SHOWN])
            await ephemeral(ack, messages.NOT_A_COMPONENT_STATE.format(word=shown, valid=valid))
            return
        actor = actor_of(command)
        if await refused_answer(ack, self.authority, actor, Can.SET_COMPONENT_STATE):
            return
        try:
            await self.page.set_state(key, state, actor=actor.user_id)
        except UnknownComponents:  # the policy was reloaded in between
            await ephemeral(ack, self.unknown(self.deps.policy(), key))
            return
        await ephemeral(ack, await self.component_set(policy, key, state))

    async def component_set(self, policy: Policy, key: str, state: ComponentState | None) -> str:
        name = escape(next(c.name for c in policy.components if c.key == key))
        if state is not None:
            return messages.COMPONENT_SET.format(name=name, state=state.label, key=key)
        shown = (await self.page.public_page()).document["components"][key]["state"]
        return messages.COMPONENT_AUTO.format(name=name, state=ComponentState(shown).label)

    @staticmethod
    def unknown(policy: Policy, typed: str) -> str:
        known = ", ".join(f"`{escape(c.key)}`" for c in policy.components)
        return messages.UNKNOWN_COMPONENT.format(key=escape(typed[:WORD_SHOWN]), known=known)

    # --- /incident maintenance ----------------------------------------------------------

    async def answer_maintenance(self, ack: AsyncAck, command: dict[str, Any], rest: str) -> None:
        word, _, arg = rest.strip().partition(" ")
        word = word.lower()
        policy = self.deps.policy()
        if not policy.components:
            await ephemeral(ack, messages.STATUS_PAGE_OFF)
        elif word == "":
            if not await refused_answer(
                ack, self.authority, actor_of(command), Can.SCHEDULE_MAINTENANCE
            ):
                await ack()  # the form opens after the answer
        elif word == "list":
            now = self.page.clock.now()
            found = await self.page.maintenances()
            text, blocks = maintenance_answer(found, policy, now, policy_zone(policy))
            await ephemeral(ack, text, blocks)
        elif word == "cancel":
            await self.answer_cancel(ack, command, arg.strip().lstrip("#"))
        else:
            await ephemeral(ack, messages.MAINTENANCE_USAGE_ERROR)

    async def answer_cancel(self, ack: AsyncAck, command: dict[str, Any], raw_id: str) -> None:
        if not raw_id.isdigit() or len(raw_id) > 18:
            await ephemeral(ack, messages.MAINTENANCE_USAGE_ERROR)
            return
        if await refused_answer(ack, self.authority, actor_of(command), Can.SCHEDULE_MAINTENANCE):
            return
        if await self.page.cancel_maintenance(int(raw_id)):
            await ephemeral(ack, messages.MAINTENANCE_CANCELLED.format(id=int(raw_id)))
        else:
            await ephemeral(ack, messages.MAINTENANCE_NOT_FOUND.format(id=int(raw_id)))

    async def open_maintenance(
        self, command: dict[str, Any], client: AsyncWebClient, rest: str
    ) -> None:
        """The form, for `/incident maintenance` alone, to someone who may schedule."""
        policy = self.deps.policy()
        if rest.strip() or not policy.components:
            return
        if self.authority is not None and not await self.authority.allows(
            actor_of(command), Can.SCHEDULE_MAINTENANCE
        ):
            return
        view = maintenance_modal(policy, self.page.clock.now())
        await client.views_open(trigger_id=command["trigger_id"], view=view)

    @answer_errors
    async def maintenance_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = state_values(view)
        title = read_value(values, Ids.MAINTENANCE_TITLE).strip()
        keys = sorted_keys(self.deps.policy(), values)
        starts = moment(selected(values, Ids.STARTS, "selected_date_time"))
        ends = moment(selected(values, Ids.ENDS, "selected_date_time"))
        problems = self.problems(title, keys, starts, ends)
        if problems or starts is None or ends is None:
            await ack(response_action="errors", errors=problems)
            return
        refused = await refusal(self.authority, actor_of(body), Can.SCHEDULE_MAINTENANCE)
        if refused is not None:
            await errors(ack, Ids.MAINTENANCE_TITLE, refused)
            return
        try:
            found = await self.page.schedule_maintenance(
                title, keys, starts, ends, actor=body["user"]["id"], source_key=view_key(view)
            )
        except UnknownComponents as exc:  # the policy was reloaded since the form opened
            await errors(ack, Ids.COMPONENTS, str(exc))
            return
        except ValueError as exc:
            await errors(ack, Ids.MAINTENANCE_TITLE, str(exc))
            return
        done = maintenance_scheduled_modal(
            found, title, keys, starts, ends, policy=self.deps.policy()
        )
        await ack(response_action="update", view=done)

    def problems(
        self, title: str, keys: list[str], starts: datetime | None, ends: datetime | None
    ) -> dict[str, str]:
        """What is wrong with the form, by input: the form stays open and says so."""
        problems: dict[str, str] = {}
        if not title:
            problems[Ids.MAINTENANCE_TITLE] = messages.MAINTENANCE_NEEDS_TITLE
        if not keys:
            problems[Ids.COMPONENTS] = messages.MAINTENANCE_NEEDS_COMPONENT
        if starts is None:
            problems[Ids.STARTS] = messages.MAINTENANCE_NEEDS_TIME
        if ends is None:
            problems[Ids.ENDS] = messages.MAINTENANCE_NEEDS_TIME
        elif starts is not None and ends <= starts:
            problems[Ids.ENDS] = messages.MAINTENANCE_END_BEFORE_START
        elif ends <= self.page.clock.now():
            problems[Ids.ENDS] = messages.MAINTENANCE_END_PAST
        return problems

    def subcommands(self) -> list[Subcommand]:
        return [
            Subcommand(
                "component",
                "component [key] [state|auto]",
                messages.HELP_COMPONENT,
                self.answer_component,
                aliases=("components",),
            ),
            Subcommand(
                "maintenance",
                "maintenance [list|cancel <id>]",
                messages.HELP_MAINTENANCE,
                self.answer_maintenance,
                self.open_maintenance,
            ),
        ]


def sorted_keys(policy: Policy, values: dict[str, Any]) -> list[str]:
    """The components chosen, in the policy's order (keys it no longer lists kept last,
    for the service to refuse by name)."""
    chosen = option_values(selected(values, Ids.COMPONENTS, "selected_options"))
    order = [c.key for c in policy.components if c.key in chosen]
    return order + sorted(chosen - set(order))


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.status_page is None:  # the feature is not registered
        return []
    listeners = StatusPageListeners(deps, deps.status_page)
    app.view(Ids.MAINTENANCE_MODAL)(listeners.maintenance_submitted)
    return listeners.subcommands()
