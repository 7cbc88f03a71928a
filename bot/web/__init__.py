"""The public status page over HTTP (issue 24): the HTML page, the Atom feed and the
handlers for `/status`, `/status.json` and `/status.atom`.

It shows a `PublicPage` (bot/domain/status_history.py) and nothing else: no Slack, no
storage. Whoever serves it passes a provider that builds the page.
"""
