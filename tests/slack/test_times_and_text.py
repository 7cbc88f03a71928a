"""Issue 23, item 4: every time a message or view shows is Slack's date formatting,
`<!date^UNIX^TOKENS|fallback>`, so each reader sees their own time zone; the fallback (for
clients that cannot) is in the policy's time zone and says which. `<!date…>` works only in
mrkdwn: plain text (headers, options, buttons) keeps a plain time with its zone. And every
message has a top-level `text` that says what happened (notifications and screen readers
read it), with people's words escaped.

Every builder of bot/slack/blocks is run, through the discovery and inputs of
test_block_limits (its coverage test fails on a builder neither file calls).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.slack import messages
from bot.slack.blocks import digest, incident, live_channel, paging, postmortems, timeline
from bot.slack.blocks.common import plain_time, policy_zone, slack_date, slack_day
from tests.slack import test_block_limits as limits
from tests.slack.test_block_limits import Words, builders, texts_of
from tests.slack.test_escaping_property import (
    AT,
    FACTS,
    POLICY,
    a_digest,
    a_page,
    a_postmortem,
    an_entry,
    an_incident,
    assert_safe,
)

# People's words with no digits, so any time found was written by Firewatch.
PLAIN = Words(limits.repeated("the database is down again ", 3000), "checkout is failing")
MARKUP = limits.WORDS["markup"]  # people's markup: must stay text in `text` too

DATE = re.compile(r"<!date\^([^^|>]*)\^([^|>]*)(?:\^([^|>]*))?\|([^>]*)>")
KNOWN_TOKENS = {
    "date_num",
    "date",
    "date_short",
    "date_long",
    "date_pretty",
    "date_short_pretty",
    "date_long_pretty",
    "time",
    "time_secs",
    "ago",
}
CLOCK = re.compile(r"\b\d{1,2}:\d{2}\b")  # 14:30, 9:05
ISO = re.compile(r"\b\d{4}-\d{2}-\d{2}")  # 2026-12-06, 2026-12-06T14:30
WITH_ZONE = re.compile(r"\b\d{1,2}:\d{2} (UTC|[A-Z]{2,5}|[+-]\d{2,4})\b")
FALLBACK_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}) (\S+)$")
FALLBACK_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def built(words: Words) -> Iterator[tuple[str, str | None, Any]]:
    for name, build in builders(words).items():
        text, payload = build()
        yield name, text, payload


def dates_in(text: str) -> list[tuple[str, ...]]:
    return [tuple(m) for m in DATE.findall(text)]


def assert_well_formed_dates(where: str, text: str, zone: str = "UTC") -> int:
    """Each `<!date…>` is whole: unix seconds, known tokens, a fallback in `zone` that
    names it and shows the same moment (a date alone: the same day)."""
    found = dates_in(text)
    assert text.count("<!date") == len(found), f"{where}: a malformed date token in {text!r}"
    for epoch, tokens, _link, fallback in found:
        assert epoch.isdigit(), f"{where}: not unix seconds: {epoch!r}"
        moment = datetime.fromtimestamp(int(epoch), UTC)
        assert 2000 <= moment.year <= 2100, f"{where}: {epoch} is not a plausible time"
        names = re.findall(r"\{([^{}]*)\}", tokens)
        assert names, f"{where}: no token in {tokens!r}"
        assert set(names) <= KNOWN_TOKENS, f"{where}: unknown token in {tokens!r}"
        assert re.fullmatch(r"(\{[a-z_]+\}|[ ,·at])*", tokens), f"{where}: {tokens!r}"
        assert fallback.strip(), f"{where}: a date without a fallback"
        local = moment.astimezone(ZoneInfo(zone))
        if "time" in names:
            shown = FALLBACK_TIME.match(fallback)
            assert shown, f"{where}: fallback {fallback!r} is not 'YYYY-MM-DD HH:MM ZONE'"
            assert shown[1] == f"{local:%Y-%m-%d %H:%M}", f"{where}: {fallback!r} is not {local}"
            assert shown[2] == local.tzname(), f"{where}: {fallback!r} does not name {zone}"
        else:
            assert FALLBACK_DAY.match(fallback), f"{where}: fallback {fallback!r} of a date"
            assert fallback == local.date().isoformat(), f"{where}: {fallback!r} vs {local}"
    return len(found)


def assert_no_raw_time(where: str, text: str) -> None:
    """Outside `<!date…>` tokens, no clock time nor ISO date in parsed text."""
    rest = DATE.sub("", text)
    assert not CLOCK.search(rest), f"{where}: a raw time in {rest!r}"
    assert not ISO.search(rest), f"{where}: a raw date in {rest!r}"


# --- (1) and (2): times ---------------------------------------------------------------


def test_every_time_in_mrkdwn_is_a_slack_date_with_a_fallback_in_the_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The reminders' late note is Firewatch's own text from the scheduler (see the report
    # of issue 23 item 4): leave it out here, the builders are what is checked.
    monkeypatch.setattr(limits, "LATE", "Sent late")
    dates = 0
    for name, text, payload in built(PLAIN):
        for markup in [text or "", *texts_of(payload, "mrkdwn")]:
            assert_no_raw_time(name, markup)
            dates += assert_well_formed_dates(name, markup)
    assert dates >= 30  # the reports, pages, timeline, post-mortems and digest all show times


def test_plain_text_never_holds_a_date_token_and_any_time_there_names_its_zone() -> None:
    for name, _text, payload in built(PLAIN):
        for shown in texts_of(payload, "plain_text"):
            assert "<!date" not in shown, f"{name}: <!date…> in plain text is shown raw"
            for found in CLOCK.finditer(shown):
                assert WITH_ZONE.match(shown, found.start()), f"{name}: {shown!r}"


def paris() -> Any:
    zone = POLICY.working_time.model_copy(update={"timezone": "Europe/Paris"})
    return POLICY.model_copy(update={"working_time": zone})


def test_fallbacks_are_in_the_policys_time_zone_and_say_it() -> None:
    policy = paris()
    zone = policy_zone(policy)
    inc, page = an_incident("x"), a_page("x")
    shown = {
        "announcement": incident.announcement(inc, policy)[1],
        "report": incident.incident_report(inc, policy)[1],
        "page_dm": paging.page_dm(page, inc, policy)[1],
        "page_post": paging.page_post(page, inc, policy)[1],
        "breach": paging.breach(inc, policy)[1],
        "review": postmortems.review_message(inc, a_postmortem("x"), policy)[1],
        "final": postmortems.final_report(inc, a_postmortem("x"), FACTS, policy)[1],
        "echo": timeline.timeline_entries([an_entry("x", "note")], zone)[1],
        "page": timeline.timeline_page(inc, [an_entry("x", "note")], offset=0, total=1, zone=zone),
        "digest": digest.digest_message(a_digest("x"), policy, zone=ZoneInfo(zone))[1],
    }
    for name, payload in shown.items():
        markup = "\n".join(texts_of(payload, "mrkdwn"))
        assert assert_well_formed_dates(name, markup, zone) >= 1, name
    report = "\n".join(texts_of(shown["report"], "mrkdwn"))
    # 15:00 UTC is 16:00 in Paris in November (CET); the reader's own zone is Slack's part.
    assert f"<!date^{int(AT.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-25 16:00 CET>" in (
        report
    )


def test_the_helpers() -> None:
    summer = datetime(2026, 7, 1, 12, 30, tzinfo=UTC)
    assert slack_date(summer, "Europe/Paris") == (
        f"<!date^{int(summer.timestamp())}^{{date_short_pretty}} {{time}}|2026-07-01 14:30 CEST>"
    )
    assert slack_date(summer) == (
        f"<!date^{int(summer.timestamp())}^{{date_short_pretty}} {{time}}|2026-07-01 12:30 UTC>"
    )
    assert slack_date(None) == "—"
    assert plain_time(summer, "America/New_York") == "2026-07-01 08:30 EDT"
    naive = datetime(2026, 7, 1, 12, 30)  # a database without zones: UTC
    assert slack_date(naive) == slack_date(summer)
    # A date alone: noon that day in the zone, shown in the reader's format.
    noon = datetime(2026, 12, 1, 12, tzinfo=ZoneInfo("Europe/Paris"))
    expected = f"<!date^{int(noon.timestamp())}^{{date_short}}|2026-12-01>"
    assert slack_day(date(2026, 12, 1), "Europe/Paris") == expected
    assert slack_day("2026-12-01", "Europe/Paris") == expected  # as stored in a JSON row
    assert slack_day("soon <!here>") == "soon &lt;!here&gt;"  # not a date: shown, escaped
    assert slack_day(None) == "—"


def test_due_dates_are_dates_without_a_time() -> None:
    pm = a_postmortem("x")
    _, blocks = postmortems.review_message(an_incident("x"), pm, POLICY)
    items = "\n".join(texts_of(blocks, "mrkdwn"))
    assert "^{date_short}|2026-12-01>" in items
    item = {"id": 5, "incident": "INC-7", "text": "x", "owner": "U0OWN", "due_on": "2026-12-01"}
    followups = postmortems.followups_list([{**item, "overdue": True}])
    assert "^{date_short}|2026-12-01>" in "\n".join(texts_of(followups, "mrkdwn"))


# --- (3): the top-level text ---------------------------------------------------------------

NOISE = re.compile(r":[a-z0-9_+-]+:|<[^<>]*>|\b(INC|CHG)-\d+\b|[*_~`#]")
WORD = re.compile(r"[^\W\d_]{2,}")
BARE_USER = re.compile(r"\b[UW]0?[A-Z0-9]{4,}\b")  # U0REP outside <@…>


def assert_meaningful(where: str, text: str | None) -> None:
    """Says what happened: words beyond emoji, mentions, references and "Firewatch"."""
    assert text is not None, f"{where}: no top-level text"
    assert text.strip(), f"{where}: an empty top-level text"
    assert text.strip() not in {"…", "...", "Firewatch"}, f"{where}: {text!r}"
    words = [w for w in WORD.findall(NOISE.sub(" ", text)) if w.lower() != "firewatch"]
    assert len(words) >= 2, f"{where}: the text says nothing: {text!r}"


def messages_built(words: Words) -> Iterator[tuple[str, str | None]]:
    for name, text, payload in built(words):
        is_view = isinstance(payload, dict) and payload.get("type") == "modal"
        if text is not None or not is_view:
            yield name, text


def test_every_message_builder_gives_a_top_level_text_that_says_what_happened() -> None:
    posted = dict(messages_built(PLAIN))
    with_text = {name: text for name, text in posted.items() if text is not None}
    assert len(with_text) >= 16  # every posted or updated message
    for name, text in with_text.items():
        assert_meaningful(name, text)
        bare = BARE_USER.search(re.sub(r"<[^<>]*>", "", text))
        assert not bare, f"{name}: a bare user id says nothing: {text!r}"
    assert "Reported by <@U0REP>" in with_text["incident.announcement"]
    # The rest are answered ephemerally by a listener, with these texts.
    for answer in [
        messages.OPEN_INCIDENTS.format(count=3),
        messages.RACI_CHART,
        messages.INCIDENT_ROLES,
        messages.TIMELINE_OF.format(ref="INC-7"),
        messages.OPEN_ACTION_ITEMS.format(count=2),
    ]:
        assert_meaningful(answer, answer)


def test_the_echo_says_what_was_added() -> None:
    text, _, _ = timeline.timeline_entries([an_entry("the database is down", "note")])
    assert text == "the database is down"  # in the incident's own channel


@pytest.mark.parametrize("kind", sorted(limits.KINDS))
def test_top_level_text_keeps_peoples_words_as_text(kind: str) -> None:
    for name, text, payload in built(limits.WORDS[kind]):
        if text is None:
            continue
        assert_safe(text, [])
        limits.assert_whole_markup(text, f"{name} text")
        assert_meaningful(name, text)
        del payload


def test_a_title_made_only_of_markup_still_leaves_words_in_the_text() -> None:
    inc = dataclasses.replace(an_incident("<!channel>"), title="<!channel>")
    for name, (text, _) in {
        "announcement": incident.announcement(inc, POLICY),
        "page_dm": paging.page_dm(a_page(""), inc, POLICY),
        "breach": paging.breach(inc, POLICY),
        "request": postmortems.request_message(inc, a_postmortem("")),
    }.items():
        assert "<!channel>" not in text, name
        assert_meaningful(name, text)


def test_the_topic_is_plain_text_with_the_deadline_in_the_policys_zone_named() -> None:
    # A topic is not parsed for <!date>: 16:00 UTC is 17:00 in Paris, and it says CET.
    topic = live_channel.channel_topic(an_incident("x"), paris(), "U0LEAD")
    assert "Wed 17:00 CET" in topic
    assert "<!date" not in topic
    assert "Wed 16:00 UTC" in live_channel.channel_topic(an_incident("x"), POLICY, "U0LEAD")
