"""Run the Slack emulator standalone: ``python -m bot.emulator --port 8089``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.emulator.server import SlackEmulator


async def _serve(host: str, port: int, token: str) -> None:
    emulator = SlackEmulator(bot_token=token)
    await emulator.start(host, port)
    sys.stdout.write(f"Slack emulator listening: {emulator.api_url} (bot token {token})\n")
    sys.stdout.write(f"response_url hooks: {emulator.hooks_url}\n")
    sys.stdout.flush()
    try:
        await asyncio.Event().wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.emulator", description=__doc__)
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=8089, help="0 = any free port (default: %(default)s)"
    )
    parser.add_argument("--token", default="xoxb-test-token", help="accepted bot token")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args.host, args.port, args.token))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
