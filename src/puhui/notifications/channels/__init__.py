"""Gateways: how a message leaves the platform (SMS over SMPP 3.4, e-mail over SMTP, and the
development ``log`` gateway), behind one small interface.

A gateway knows nothing of the database. It is handed an :class:`Envelope` and either
returns :class:`Accepted` (the gateway's references, one per part) or raises one of the
errors below, which say what the caller may safely do next:

- :class:`TransientGatewayError` — nothing was handed over (the gateway could not be
  reached, or refused for now): trying again later cannot duplicate the message.
- :class:`PermanentGatewayError` — refused for good (an invalid number, a message too
  long): trying again will not help.
- :class:`UncertainDelivery` — the connection broke after the message was written to it:
  the gateway may have accepted it. Sending again could duplicate it, so the caller must
  not do that automatically.

``recall(reference)`` asks a gateway whether it accepted a message with that reference:
:data:`NOT_SENT`, an :class:`Accepted`, or ``None`` when the gateway cannot tell (SMPP and
SMTP have no such query). Gateways are the one place that maps their library's errors
onto these (as ``httpx`` does for transports).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

log = logging.getLogger("puhui.notifications")


@dataclass(frozen=True)
class Envelope:
    """One message as a gateway sees it. ``reference`` is stable across attempts."""

    message_id: int
    reference: str
    channel: str
    recipient: str
    subject: str
    body: str


@dataclass(frozen=True)
class Receipt:
    """A delivery receipt, as a gateway read it (SMPP ``deliver_sm``)."""

    gateway_ref: str
    stat: str
    error_code: str = ""
    done_at: Any = None  # datetime | None (UTC)
    destination: str = ""
    user_reference: int | None = None
    text: str = ""


@dataclass(frozen=True)
class Accepted:
    """The gateway took the message: its reference for every part, in order, and any
    receipts it sent back while the message was being handed over."""

    refs: tuple[str, ...]
    receipts: tuple[Receipt, ...] = field(default=())


class _NotSent:
    def __repr__(self) -> str:
        return "NOT_SENT"


NOT_SENT: Final = _NotSent()
Recalled = Accepted | _NotSent | None


class GatewayError(Exception):
    """A gateway could not take a message; subclasses say whether to try again."""


class TransientGatewayError(GatewayError):
    """Nothing was handed over; try again later."""


class PermanentGatewayError(GatewayError):
    """The gateway refused the message for good."""


class UncertainDelivery(GatewayError):
    """The gateway may or may not have accepted the message; never resend automatically."""

    def __init__(self, message: str, *, accepted: Accepted | None = None) -> None:
        super().__init__(message)
        self.accepted = accepted  # the parts accepted before the break, if any


class Gateway(Protocol):
    name: str

    def prepare(self) -> None:
        """Get ready to send (connect, bind) without handing anything over; raises
        :class:`TransientGatewayError` when the gateway cannot be reached."""

    def send(self, envelope: Envelope) -> Accepted:
        """Hand one message over; see the module docstring for the errors."""

    def recall(self, reference: str) -> Recalled:
        """Whether a message with ``reference`` was accepted; ``None``: cannot tell."""


class LogGateway:
    """Development gateway: writes the message to the console log (the recipient masked by
    the logging filter) and counts as sent. It keeps nothing, so it cannot recall."""

    name = "log"

    def prepare(self) -> None:
        return None

    def send(self, envelope: Envelope) -> Accepted:
        log.info(
            "%s to %s: %s %s",
            envelope.channel.upper(),
            envelope.recipient,
            envelope.subject,
            envelope.body,
            extra={"message_id": envelope.message_id},
        )
        return Accepted(refs=(f"log-{envelope.message_id}",))

    def recall(self, reference: str) -> Recalled:
        return None


GatewayFactory = Callable[[Any], Gateway]  # settings -> gateway

_factories: dict[str, GatewayFactory] = {}
_keys: dict[str, Callable[[Any], Any]] = {}
_instances: dict[tuple[str, Any], Gateway] = {}
_lock = threading.Lock()


def register_gateway(name: str, factory: GatewayFactory, *, key: Callable[[Any], Any]) -> None:
    """Make gateway ``name`` available. ``key(settings)`` names the configuration an
    instance was built for: one instance (and so one SMPP session) per process and key."""
    _factories[name] = factory
    _keys[name] = key


def gateway_names() -> list[str]:
    return sorted(_factories)


def get_gateway(name: str, settings: Any) -> Gateway:
    """The process's gateway ``name`` for these settings (built on first use)."""
    if name not in _factories:
        raise LookupError(f"no gateway named {name!r}")
    cache_key = (name, _keys[name](settings))
    with _lock:
        gateway = _instances.get(cache_key)
        if gateway is None:
            gateway = _instances[cache_key] = _factories[name](settings)
        return gateway


def close_gateways() -> None:
    """Close every gateway's connection (tests, worker shutdown)."""
    with _lock:
        gateways = list(_instances.values())
        _instances.clear()
    for gateway in gateways:
        close = getattr(gateway, "close", None)
        if close is not None:
            close()


def _smpp(settings: Any) -> Gateway:
    from puhui.notifications.channels.smpp import SmppConfig, SmppGateway

    return SmppGateway(SmppConfig.from_settings(settings))


def _smtp(settings: Any) -> Gateway:
    from puhui.notifications.channels.smtp import SmtpConfig, SmtpGateway

    return SmtpGateway(SmtpConfig.from_settings(settings))


def _smpp_key(settings: Any) -> Any:
    from puhui.notifications.channels.smpp import SmppConfig

    return SmppConfig.from_settings(settings)


def _smtp_key(settings: Any) -> Any:
    from puhui.notifications.channels.smtp import SmtpConfig

    return SmtpConfig.from_settings(settings)


register_gateway("log", lambda settings: LogGateway(), key=lambda settings: None)
register_gateway("smpp", _smpp, key=_smpp_key)
register_gateway("smtp", _smtp, key=_smtp_key)


@runtime_checkable
class ReceiptSource(Protocol):
    """A gateway that receives delivery receipts over its own session (SMPP)."""

    def collect_receipts(self, *, wait: float) -> tuple[Receipt, ...]: ...

    def acknowledge(self, receipts: tuple[Receipt, ...]) -> None: ...
