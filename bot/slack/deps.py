"""What listeners may use: services and read access to the policy, nothing else."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.domain.policy import Policy
from bot.services.alert_actions import AlertActions
from bot.services.alert_paging import AlertPaging
from bot.services.authority import Authority
from bot.services.captures import CaptureDesk
from bot.services.changes import ChangeService
from bot.services.digest import DigestService
from bot.services.home import HomeService
from bot.services.incidents import IncidentService
from bot.services.intake import DeclarationIntake
from bot.services.notes import NoteIntake
from bot.services.notices import NoticeService
from bot.services.paging import PagingService
from bot.services.postmortems import PostmortemService
from bot.services.retitle import Retitling
from bot.services.status_page import StatusPageService
from bot.services.timeline import TimelineService
from bot.slack.follow_ups import FollowUps


@dataclass(frozen=True)
class ListenerDeps:
    incidents: IncidentService
    policy: Callable[[], Policy]
    timeline: TimelineService
    changes: ChangeService
    notices: NoticeService
    postmortems: PostmortemService
    intake: DeclarationIntake  # declarations are answered once stored
    notes: NoteIntake  # notes too (appended to the timeline right after)
    follow_ups: FollowUps  # Slack calls after the answer
    paging: PagingService | None = None  # None: the feature is not registered
    alert_paging: AlertPaging | None = None  # alert groups' Acknowledge; None: not registered
    alert_actions: AlertActions | None = None  # Declare, Link, Silence; None: not registered
    digest: DigestService | None = None  # None: the feature is not registered
    authority: Authority | None = None  # who may do what; None: nothing is checked (tests)
    captures: CaptureDesk | None = None  # capture requests; None: the feature is not registered
    home: HomeService | None = None  # the App Home; None: the feature is not registered
    retitling: Retitling | None = None  # `/incident title`; None: not registered
    status_page: StatusPageService | None = None  # components, maintenance; None: not registered
