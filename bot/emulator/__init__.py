"""A local Slack emulator (Web API and Socket Mode) and request senders, for tests and the demo."""

from bot.emulator.server import RecordedCall, SlackEmulator
from bot.emulator.signer import (
    SlackPayloads,
    SlackRequestSender,
    SlackResponse,
    input_values,
    sign,
)
from bot.emulator.socket_sender import SocketModeSender

__all__ = [
    "RecordedCall",
    "SlackEmulator",
    "SlackPayloads",
    "SlackRequestSender",
    "SlackResponse",
    "input_values",
    "SocketModeSender",
    "sign",
]
