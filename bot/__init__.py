"""Firewatch: incident response for Slack, driven by the team's own policy."""

__version__ = "0.1.0"
