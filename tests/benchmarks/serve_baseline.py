"""A bare Bolt AsyncApp that only acknowledges Firewatch's requests: the baselines of
figure 1. `--mode bolt-default` is the AsyncApp as Bolt comes; `--mode bolt-pbr` the same
with process_before_response=True. Signing-secret verification is on in both.

    python -m tests.benchmarks.serve_baseline --mode bolt-pbr --port 3100 --api-url URL
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.ids import COMMAND, Action, Callback
from tests.support import SECRET, TOKEN


def build(mode: str, api_url: str) -> AsyncApp:
    app = AsyncApp(
        # The token comes with the client: Bolt's single-team authorization (one cached
        # auth.test, answered by the emulator) as an app gets it by default.
        client=AsyncWebClient(token=TOKEN, base_url=api_url),
        signing_secret=SECRET,
        process_before_response=(mode == "bolt-pbr"),
    )

    async def acknowledge(ack: AsyncAck) -> None:
        await ack()

    app.command(COMMAND)(acknowledge)
    app.action(Action.CHANGE_SEVERITY.value)(acknowledge)
    app.view(Callback.DECLARE_MODAL.value)(acknowledge)
    return app


async def serve(mode: str, port: int, api_url: str) -> None:
    web_app = build(mode, api_url).web_app(path="/slack/events", port=port)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    web_app.router.add_get("/health", health)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["bolt-default", "bolt-pbr"], required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.mode, args.port, args.api_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
