"""Titles in any script, and the Slack channel names made from them."""

from __future__ import annotations

import re

import pytest

from bot.domain.incident import (
    SLACK_CHANNEL_NAME_MAX,
    IncidentReport,
    channel_name,
    validate_report,
)

# Slack: at most 80 characters, lowercase letters, digits, hyphens and underscores.
VALID_NAME = re.compile(r"^[a-z0-9_-]{1,80}$")

SCRIPTS = {
    "cyrillic": "Сбой оплаты",
    "cjk": "決済エラー",
    "arabic": "خطأ في الدفع",
    "greek": "Σφάλμα πληρωμής",
    "devanagari": "भुगतान त्रुटि",
    "hangul": "결제 오류",
    "hebrew": "שגיאת תשלום",
    "thai": "ชำระเงินผิดพลาด",
    "arabic-indic digits": "٤٠٤",
}


def title_errors(title: str) -> dict[str, str]:
    report = IncidentReport(
        title=title, severity="sev1", nature="n", discovery="monitoring_alert", impact="i"
    )
    return validate_report(
        report, severities=["sev1"], discovery_methods=["monitoring_alert"], required=set()
    )


@pytest.mark.parametrize("title", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_a_title_in_any_script_is_a_title(title: str) -> None:
    assert title_errors(title) == {}


@pytest.mark.parametrize("title", ["!!! ???", "🔥🔥", "— · —", "\u0301\u0301"])
def test_a_title_without_a_letter_or_digit_is_refused(title: str) -> None:
    assert title_errors(title) == {"title": "Use at least one letter or digit."}


@pytest.mark.parametrize("title", SCRIPTS.values(), ids=SCRIPTS.keys())
def test_a_title_with_no_ascii_form_names_the_channel_by_its_number(title: str) -> None:
    name = channel_name("inc-{number}-{title}", number=42, title=title, severity="sev1")
    assert name == "inc-42"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{title}-{number}", "42"),
        ("{ref}-{title}", "inc-42"),
        ("{severity}_{number}_{title}", "sev1_42"),
    ],
)
def test_the_rest_of_the_template_stays_when_the_title_drops_out(
    template: str, expected: str
) -> None:
    assert channel_name(template, number=42, title="決済エラー", severity="sev1") == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Ошибка API 500 в checkout", "inc-7-api-500-checkout"),
        ("Café — paiement refusé", "inc-7-cafe-paiement-refuse"),
        ("ｆｕｌｌｗｉｄｔｈ　ＤＢ", "inc-7-fullwidth-db"),
        ("決済 API タイムアウト", "inc-7-api"),
    ],
)
def test_the_ascii_letters_and_digits_of_a_mixed_title_name_the_channel(
    title: str, expected: str
) -> None:
    assert channel_name("inc-{number}-{title}", number=7, title=title, severity="sev1") == expected


@pytest.mark.parametrize("title", [*SCRIPTS.values(), "x" * 150, "Ab " * 50, "-_" * 75])
def test_every_channel_name_is_one_slack_accepts(title: str) -> None:
    for template in ("inc-{number}-{title}", "{title}-{ref}", "{severity}-{number}-{title}"):
        name = channel_name(template, number=123456, title=title, severity="SEV_1")
        assert VALID_NAME.match(name), name
        assert len(name) <= SLACK_CHANNEL_NAME_MAX
        assert name.strip("-_") == name
