"""Pure incident domain: no Slack, no database, no clock."""
