"""The Acknowledge button of an alert group: on its card and on the DM paging someone
(the same action, valued with the group's id). Checked against the policy
(`acknowledge_alert`), stored, then the card, the page DMs and PagerDuty follow through
the outbox; a refusal or a second click is answered privately."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.domain.permissions import Action
from bot.services.alert_paging import AlertPaging, AlertPagingError
from bot.slack.blocks.common import mention, policy_zone, slack_date
from bot.slack.deps import ListenerDeps
from bot.slack.ids import Action as Ids
from bot.slack.listeners.forms import channel_of, first_action
from bot.slack.permission import actor_of, refusal
from bot.slack.subcommands import Subcommand

ALREADY = "This alert was already acknowledged by {who} {when}."


class AlertAckListeners:
    def __init__(self, deps: ListenerDeps, paging: AlertPaging) -> None:
        self.paging = paging
        self.authority, self.notices = deps.authority, deps.notices

    async def acknowledged(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Acknowledge on an alert card or a page DM."""
        await ack()
        user, where = str((body.get("user") or {}).get("id", "")), channel_of(body)
        try:
            group_id = int(first_action(body).get("value", ""))
        except ValueError:
            return  # not a button Firewatch made
        answer = await refusal(self.authority, actor_of(body), Action.ACKNOWLEDGE_ALERT)
        if answer is None:
            try:
                done = await self.paging.acknowledge(group_id, user)
            except AlertPagingError as exc:
                answer = str(exc)
            else:
                if not done.first:
                    when = slack_date(done.at, policy_zone(self.paging.policy))
                    answer = ALREADY.format(who=mention(done.by, "someone"), when=when)
        if answer is not None and user and where:
            await self.notices.tell(user, where, answer)


def register(app: AsyncApp, deps: ListenerDeps) -> list[Subcommand]:
    if deps.alert_paging is None:
        return []
    listeners = AlertAckListeners(deps, deps.alert_paging)
    app.action(Ids.ALERT_ACKNOWLEDGE)(listeners.acknowledged)
    return []
