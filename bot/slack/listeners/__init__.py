"""Thin Slack listeners, one module per feature: `commands` (the /incident router and the
core subcommands), `declare`, `timeline`, `paging`, `postmortems`, `digest`; `forms` is
what they share. Each has `register(app, deps)`, which only wires its listeners."""
