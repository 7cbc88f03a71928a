"""The only Slack-aware package."""
