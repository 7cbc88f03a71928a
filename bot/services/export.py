"""An incident's record as JSON or Markdown: report, checklist, timeline, changes."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.domain.incident import Incident
from bot.domain.timeline import TimelineEntry
from bot.services.changes import Change
from bot.services.postmortems import Postmortem


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def incident_record(
    incident: Incident,
    entries: list[TimelineEntry],
    changes: list[Change],
    postmortem: Postmortem | None = None,
) -> dict[str, Any]:
    return {
        "postmortem": None if postmortem is None else _postmortem_record(postmortem),
        "ref": incident.ref,
        "title": incident.title,
        "kind": incident.kind.value,
        "severity": incident.severity,
        "status": incident.status.value,
        "reporter": incident.reporter_id,
        "report": {
            "nature": incident.nature,
            "discovery": incident.discovery,
            "impact": incident.impact,
            "evidence": incident.evidence,
            "service": incident.service,
        },
        "checklist": incident.checklist,
        "channel": {"id": incident.channel_id, "name": incident.channel_name},
        "times": {
            "declared": _iso(incident.declared_at),
            "response_deadline": _iso(incident.response_deadline),
            "acknowledged": _iso(incident.acknowledged_at),
            "mitigated": _iso(incident.mitigated_at),
            "resolved": _iso(incident.resolved_at),
            "closed": _iso(incident.closed_at),
        },
        "timeline": [_entry_record(e) for e in entries],
        "changes": [_change_record(c) for c in changes],
    }


def _postmortem_record(postmortem: Postmortem) -> dict[str, Any]:
    return {
        "status": postmortem.status.value,
        "owner": postmortem.owner_id,
        "due": postmortem.due_at.isoformat(),
        "resolution_summary": postmortem.resolution_summary,
        "root_cause": postmortem.root_cause,
        "impact": postmortem.impact,
        "assessments": postmortem.assessments,
        "action_items": postmortem.items,
        "approved_by": postmortem.decided_by if postmortem.status.value == "approved" else None,
    }


def _entry_record(e: TimelineEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "actor": e.actor,
        "text": e.text,
        "data": e.data,
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    }


def _change_record(c: Change) -> dict[str, Any]:
    return {
        "ref": c.ref,
        "summary": c.summary,
        "status": c.status.value,
        "plan": c.plan,
        "rollback_plan": c.rollback_plan,
        "risk": c.risk,
        "checklist": c.checklist,
        "proposed_by": c.proposed_by,
        "proposed_at": c.proposed_at.isoformat(),
        "steps": c.steps,
    }


def to_json(record: dict[str, Any]) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n"


_REPORT_LABELS = {
    "nature": "What is happening",
    "discovery": "How it was discovered",
    "impact": "Potential impact",
    "evidence": "Evidence",
    "service": "Affected service",
}


def to_markdown(record: dict[str, Any]) -> str:
    r = record
    out = [f"# {r['ref']}: {r['title']}", ""]
    out += [
        f"- **Kind:** {r['kind'].replace('_', ' ')}",
        f"- **Severity:** {r['severity']}",
        f"- **Status:** {r['status']}",
        f"- **Reporter:** {r['reporter']}",
    ]
    if r["channel"]["name"]:
        out.append(f"- **Channel:** #{r['channel']['name']}")
    out += ["", "## Times", ""]
    out += [
        f"- {name.replace('_', ' ').capitalize()}: {value or '—'}"
        for name, value in r["times"].items()
    ]
    out += ["", "## Incident report", ""]
    for key, label in _REPORT_LABELS.items():
        out += [f"### {label}", "", str(r["report"][key] or "—"), ""]
    out += _checklist_markdown(r["checklist"])
    out += _changes_markdown(r["changes"])
    out += _postmortem_markdown(r.get("postmortem"))
    out += ["## Timeline", "", "| # | Time (UTC) | Who | What |", "| --- | --- | --- | --- |"]
    for e in r["timeline"]:
        text = str(e["text"]).replace("|", "\\|").replace("\n", " ")
        out.append(f"| {e['seq']} | {e['at']} | {e['actor'] or 'Firewatch'} | {text} |")
    return "\n".join(out) + "\n"


def _checklist_markdown(checklist: dict[str, Any]) -> list[str]:
    if not checklist:
        return []
    verdict = "qualifies" if checklist.get("qualifies") else "does not qualify"
    out = [
        "## Checklist",
        "",
        f"Verdict: {verdict}. Ticked: {', '.join(checklist.get('answers', [])) or 'nothing'}.",
    ]
    if checklist.get("override_reason"):
        out.append(f"Declared anyway: {checklist['override_reason']}")
    out.append("")
    return out


def _changes_markdown(changes: list[dict[str, Any]]) -> list[str]:
    if not changes:
        return []
    out = ["## Emergency changes", ""]
    for c in changes:
        out += [
            f"### {c['ref']}: {c['summary']} ({c['status'].replace('_', ' ')})",
            "",
            f"- Plan: {c['plan']}",
            f"- Rollback plan: {c['rollback_plan']}",
            f"- Risk: {c['risk']}",
        ]
        out += [
            f"- {step.replace('_', ' ').capitalize()} by {info['by']} at {info['at']}"
            for step, info in c["steps"].items()
        ]
        out.append("")
    return out


def _postmortem_markdown(pm: dict[str, Any] | None) -> list[str]:
    if not pm:
        return []
    out = [
        "## Post-mortem",
        "",
        f"Status: {pm['status'].replace('_', ' ')}; owner {pm['owner']}; due {pm['due']}.",
        "",
    ]
    out += ["### Resolution", "", pm["resolution_summary"] or "—", ""]
    out += ["### Root cause analysis", "", pm["root_cause"] or "—", ""]
    out += ["### Actual adverse impact", "", pm["impact"] or "—", ""]
    if pm["assessments"]:
        out += ["### Assessments", ""]
        out += [
            f"- {key}: {value.get('answer') or '—'}"
            + (f" — {value['note']}" if value.get("note") else "")
            for key, value in pm["assessments"].items()
        ]
        out.append("")
    if pm["action_items"]:
        out += ["### Action items", ""]
        out += [
            f"- [{'x' if i['status'] == 'done' else ' '}] {i['text']}"
            f" ({i['owner']}, due {i['due_on']})"
            for i in pm["action_items"]
        ]
        out.append("")
    if pm["approved_by"]:
        out += [f"Approved by {pm['approved_by']}.", ""]
    return out
