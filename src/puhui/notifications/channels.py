"""Delivery channels. ``log`` is the development gateway: it writes the message to the
console log (the recipient masked by the logging filter) and counts as delivered."""

from __future__ import annotations

import logging
from typing import Protocol

log = logging.getLogger("puhui.sms")


class Gateway(Protocol):
    name: str

    def send(self, *, message_id: int, recipient: str, body: str) -> str:
        """Deliver one message; return the gateway's reference. Must be idempotent per id."""


class LogGateway:
    name = "log"

    def send(self, *, message_id: int, recipient: str, body: str) -> str:
        log.info("SMS to %s: %s", recipient, body, extra={"message_id": message_id})
        return f"log-{message_id}"


GATEWAYS: dict[str, Gateway] = {"log": LogGateway()}
