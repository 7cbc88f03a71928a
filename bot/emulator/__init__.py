"""A local Slack Web API emulator and a signed-request sender, for tests and the demo."""

from bot.emulator.server import RecordedCall, SlackEmulator
from bot.emulator.signer import SlackRequestSender, SlackResponse, input_values, sign

__all__ = [
    "RecordedCall",
    "SlackEmulator",
    "SlackRequestSender",
    "SlackResponse",
    "input_values",
    "sign",
]
