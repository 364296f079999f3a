"""Notifications: queue messages in the caller's transaction; jobs hand them to gateways.

Other domains call :func:`notify` (a registered template, rendered in the recipient's
language, to the in-app inbox, SMS and/or e-mail) or :func:`send_sms` (a ready text).
Nothing is sent inline: each SMS or e-mail is a ``pending`` message plus a
``notifications.deliver`` job in the caller's transaction, so a rolled-back request sends
nothing. In-app messages are ``delivered`` at once.

Delivery guarantee (the deliver job, see ``tasks.deliver_message``)
- A message is handed to its gateway in three steps, each its own transaction: *claim*
  (``pending → sending`` with a fresh claim token and a lease, committed before anything
  leaves the platform), *hand over* (the network call, outside any transaction) and
  *record* (``sent``/retry/``failed``, only if the claim token is still ours). The
  gateway's connection is opened and checked (``prepare``) before the claim, so the claim
  covers only the hand-over itself.
- Killed before the claim commits: the job runs again, the message is sent once.
  Killed after the outcome commits: the job runs again and finds nothing to do.
- Killed in between (the message is ``sending`` when its lease runs out): the next run
  never resends blindly. It asks the gateway (``recall`` by the message's stable
  reference): "accepted" records it as sent, "not sent" sends it. SMPP and SMTP cannot
  answer, so the message is parked ``dead`` with the reason, for an operator — at most once,
  never twice. For SMPP, a delivery receipt that echoes the message's
  ``user_message_reference`` settles it later (``delivered``/``failed``).
- The exact limit: the window is the hand-over round trip (a ``submit_sm`` and its
  response, or SMTP ``DATA`` and its reply). A hand-over slower than the lease could be
  taken for a dead one; settings refuse a lease shorter than 4× the gateway timeouts.
- A transient gateway error (unreachable, throttled) puts the message back to ``pending``
  with exponential back-off, ``notification_max_attempts`` times, then ``dead``; a
  permanent refusal makes it ``failed``. SMS to one number beyond
  ``sms_per_number_per_hour`` are deferred (``pending`` with a later ``next_attempt_at``),
  never dropped.
- Receipts are stored once (``gateway, gateway_ref, stat`` is unique) and acknowledged to
  the SMSC only after they are committed.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from puhui.config import Settings, get_settings
from puhui.core import i18n, jobs
from puhui.core.i18n import N_
from puhui.core.orm import utcnow
from puhui.core.pagination import Page, PageParams, paginate
from puhui.core.policy import Actor
from puhui.notifications import repository
from puhui.notifications.channels import (
    NOT_SENT,
    Accepted,
    Envelope,
    Gateway,
    GatewayError,
    PermanentGatewayError,
    Receipt,
    TransientGatewayError,
    UncertainDelivery,
    get_gateway,
)
from puhui.notifications.channels.receipts import STATS
from puhui.notifications.errors import InvalidRecipient, MessageNotFound, MessageStateConflict
from puhui.notifications.models import (
    CHANNELS,
    DEAD,
    DELIVERED,
    EMAIL,
    FAILED,
    INBOX,
    PENDING,
    SENDING,
    SENT,
    SMS,
    DeliveryReceipt,
    Message,
    MessagePart,
)

log = logging.getLogger("puhui.notifications")

DELIVER_JOB = "notifications.deliver"
COLLECT_RECEIPTS_JOB = "notifications.collect_receipts"
RETRY_BASE_SECONDS = 30.0
RATE_WINDOW = timedelta(hours=1)
RECEIPT_DELAY = timedelta(seconds=30)
UNKNOWN_OUTCOME = (
    "outcome unknown: the worker stopped while the gateway was taking the message; it was "
    "not sent again, to avoid a duplicate (a delivery receipt may still settle it)"
)

# --- templates ---------------------------------------------------------------------------

_KEY = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+")
_MOBILE = re.compile(r"\+?[1-9]\d{6,14}")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


@dataclass(frozen=True)
class Template:
    key: str
    subject: str  # English message ids (marked with N_), translated at enqueue time
    body: str


_templates: dict[str, Template] = {}


def register_template(key: str, *, subject: str, body: str) -> None:
    """Register a notification template under ``domain.name``. ``subject`` and ``body``
    are English message ids marked with ``N_`` and formatted with ``str.format``."""
    if not _KEY.fullmatch(key):
        raise ValueError(f"template key {key!r} must look like 'domain.name'")
    if not body:
        raise ValueError(f"template {key!r} has no body")
    template = Template(key, subject, body)
    if key in _templates and _templates[key] != template:
        raise ValueError(f"template {key!r} registered twice with different texts")
    _templates[key] = template


def template_keys() -> list[str]:
    return sorted(_templates)


def _format(key: str, msgid: str, locale: str, params: dict[str, Any]) -> str:
    translated = i18n.catalog(locale).get(msgid, msgid)
    try:
        return translated.format(**params)
    except (KeyError, IndexError, ValueError):
        pass  # a broken translation falls back to the English text
    try:
        return msgid.format(**params)
    except KeyError as exc:
        raise ValueError(f"template {key!r} needs the parameter {exc.args[0]!r}") from exc
    except (IndexError, ValueError) as exc:
        raise ValueError(f"template {key!r} cannot be formatted: {exc}") from exc


def render(key: str, params: dict[str, Any], locale: str) -> tuple[str, str]:
    """``(subject, body)`` of template ``key`` in ``locale``; ValueError when it is
    unknown or a parameter is missing."""
    template = _templates.get(key)
    if template is None:
        raise ValueError(f"unknown notification template {key!r}")
    locale = i18n.normalize_locale(locale)
    subject = _format(key, template.subject, locale, params) if template.subject else ""
    return subject, _format(key, template.body, locale, params)


def _invalid(field: str, message: str, address: str) -> InvalidRecipient:
    return InvalidRecipient(
        message,
        details=[{"field": field, "message": message, "params": {"address": address}}],
        address=address,
    )


def check_mobile(value: str) -> str:
    mobile = value.strip()
    if not _MOBILE.fullmatch(mobile):
        raise _invalid("mobile", N_("{address} is not a valid mobile number."), mobile[:40])
    return mobile


def check_email(value: str) -> str:
    email = value.strip()
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise _invalid("email", N_("{address} is not a valid e-mail address."), email[:60])
    return email


# --- queueing ----------------------------------------------------------------------------


def notify(
    session: Session,
    *,
    template: str,
    params: dict[str, Any],
    user_id: int | None = None,
    mobile: str | None = None,
    email: str | None = None,
    channels: Sequence[str] = (INBOX, SMS),
    purpose: str | None = None,
    locale: str | None = None,
    dedupe_key: str | None = None,
) -> list[Message]:
    """Queue template ``template`` on each of ``channels`` that has an address, in the
    caller's transaction; returns the messages (a channel without an address is skipped).

    ``inbox`` needs ``user_id``; ``sms`` uses ``mobile`` or the user's mobile; ``email``
    uses ``email``. With ``dedupe_key`` a message already queued under the same key and
    channel is returned instead of a second one (``ValueError`` for an unknown template,
    channel or missing parameter; :class:`InvalidRecipient` for a malformed address)."""
    settings = get_settings()
    chosen = i18n.normalize_locale(locale, settings.default_locale)
    subject, body = render(template, params, chosen)
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown:
        raise ValueError(f"unknown notification channel(s) {unknown}; use {list(CHANNELS)}")
    if SMS in channels and not mobile and user_id is not None:
        from puhui.accounts import service as accounts  # accounts imports this module

        mobile = accounts.user_mobile(session, user_id)
    addresses = {
        INBOX: "" if user_id is not None else None,
        SMS: check_mobile(mobile) if mobile else None,
        EMAIL: check_email(email) if email else None,
    }
    messages = []
    for channel in dict.fromkeys(channels):
        address = addresses[channel]
        if address is None:
            continue
        messages.append(
            _queue(
                session,
                settings,
                channel=channel,
                recipient=address,
                user_id=user_id,
                purpose=(purpose or template)[:40],
                template=template,
                locale=chosen,
                subject=subject,
                body=body,
                dedupe_key=f"{dedupe_key}:{channel}" if dedupe_key else None,
            )
        )
    return messages


def send_sms(
    session: Session, *, recipient: str, body: str, purpose: str, user_id: int | None = None
) -> Message:
    """Queue a ready SMS text (already in the recipient's language)."""
    if not body:
        raise ValueError("an SMS needs a text")
    settings = get_settings()
    return _queue(
        session,
        settings,
        channel=SMS,
        recipient=check_mobile(recipient),
        user_id=user_id,
        purpose=purpose[:40],
        template=None,
        locale=settings.default_locale,
        subject="",
        body=body,
        dedupe_key=None,
    )


def _queue(
    session: Session,
    settings: Settings,
    *,
    channel: str,
    recipient: str,
    user_id: int | None,
    purpose: str,
    template: str | None,
    locale: str,
    subject: str,
    body: str,
    dedupe_key: str | None,
) -> Message:
    if dedupe_key is not None:
        existing = repository.by_dedupe_key(session, dedupe_key)
        if existing is not None:
            return existing
    now = utcnow()
    gateway = {INBOX: "inbox", SMS: settings.sms_gateway, EMAIL: settings.email_gateway}[channel]
    message = Message(
        channel=channel,
        gateway=gateway,
        recipient=recipient,
        user_id=user_id,
        purpose=purpose,
        template=template,
        locale=locale,
        subject=subject[:200],
        body=body,
        status=DELIVERED if channel == INBOX else PENDING,
        attempts=0,
        dedupe_key=dedupe_key,
        delivered_at=now if channel == INBOX else None,
    )
    session.add(message)
    session.flush()
    if channel != INBOX:
        jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
    return message


# --- the in-app inbox --------------------------------------------------------------------


def inbox(
    session: Session, *, user_id: int, unread_only: bool, params: PageParams
) -> Page[Message]:
    return paginate(session, repository.inbox_query(user_id, unread_only=unread_only), params)


def _own_inbox_message(session: Session, user_id: int, message_id: int) -> Message:
    message = repository.message(session, message_id)
    if message is None or message.channel != INBOX or message.user_id != user_id:
        raise MessageNotFound()
    return message


def mark_read(session: Session, *, user_id: int, message_id: int) -> Message:
    """Mark one of the user's own in-app messages read (404 for anyone else's)."""
    message = _own_inbox_message(session, user_id, message_id)
    if message.read_at is None:
        message.read_at = utcnow()
        session.flush()
    return message


def mark_all_read(session: Session, *, user_id: int) -> int:
    return repository.mark_all_read(session, user_id, utcnow())


def unread_count(session: Session, *, user_id: int) -> int:
    return repository.unread_count(session, user_id)


# --- operators ---------------------------------------------------------------------------


def list_messages(
    session: Session, *, status: str | None, params: PageParams, channel: str | None = None
) -> Page[Message]:
    return paginate(session, repository.messages_query(status, channel), params)


def receipts_by_message(session: Session, message_ids: Sequence[int]) -> dict[int, list[str]]:
    """The receipt stats each message received, in arrival order."""
    out: dict[int, list[str]] = {}
    for receipt in repository.receipts_of(session, message_ids):
        if receipt.message_id is not None:
            out.setdefault(receipt.message_id, []).append(receipt.stat)
    return out


def retry_message(session: Session, *, actor: Actor, message_id: int) -> Message:
    """Send a dead or failed message again (an operator's decision, audited)."""
    from puhui.audit import service as audit

    message = repository.message(session, message_id, for_update=True)
    if message is None or message.channel == INBOX:
        raise MessageNotFound()
    if message.status not in (DEAD, FAILED):
        raise MessageStateConflict(state=message.status)
    previous = message.status
    message.status = PENDING
    message.attempts = 0
    message.next_attempt_at = None
    message.claim_token = None
    message.submitted_at = None
    session.flush()
    jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id})
    audit.record(
        session,
        actor=actor,
        action="message.retry",
        target_type="message",
        target_id=message.id,
        details={"channel": message.channel, "was": previous},
    )
    return message


# --- delivery (driven by tasks.deliver_message; see the module docstring) ----------------


@dataclass(frozen=True)
class Claim:
    message_id: int
    token: str
    gateway: str
    envelope: Envelope


def gateway_of(session: Session, *, message_id: int) -> Gateway | None:
    """The gateway of a message that may need handing over; None when there is nothing to
    do (gone, inbox, or already settled)."""
    message = repository.message(session, message_id)
    if message is None or message.channel == INBOX or message.status not in (PENDING, SENDING):
        return None
    return get_gateway(message.gateway, get_settings())


def claim(session: Session, *, message_id: int) -> Claim | None:
    """Take a message for one hand-over (the caller commits before handing it over).
    None when there is nothing to hand over now: settled, deferred by the rate limit
    (a job is queued for later), or recovered without sending."""
    settings = get_settings()
    message = repository.message(session, message_id, for_update=True)
    if message is None or message.channel == INBOX or message.status not in (PENDING, SENDING):
        return None
    now = utcnow()
    if message.status == SENDING:
        lease_end = message.next_attempt_at or now
        if lease_end > now:  # another worker is handing it over right now
            _later(session, message, lease_end)
            return None
        if not _recover(session, message, settings):
            return None
    elif message.next_attempt_at is not None and message.next_attempt_at > now:
        _later(session, message, message.next_attempt_at)
        return None
    if message.channel == SMS:
        until = _rate_limited_until(session, message, settings, now)
        if until is not None:
            message.next_attempt_at = until
            message.last_error = (
                f"deferred: {settings.sms_per_number_per_hour} SMS an hour to this number"
            )
            _later(session, message, until)
            return None
    token = uuid.uuid4().hex
    message.status = SENDING
    message.claim_token = token
    message.attempts += 1
    message.submitted_at = now
    message.next_attempt_at = now + timedelta(seconds=settings.notification_lease_seconds)
    session.flush()
    return Claim(
        message_id=message.id,
        token=token,
        gateway=message.gateway,
        envelope=Envelope(
            message_id=message.id,
            reference=message.reference,
            channel=message.channel,
            recipient=message.recipient,
            subject=message.subject,
            body=message.body,
        ),
    )


def _later(session: Session, message: Message, when: datetime) -> None:
    session.flush()
    jobs.enqueue(session, DELIVER_JOB, {"message_id": message.id}, run_at=when)


def _rate_limited_until(
    session: Session, message: Message, settings: Settings, now: datetime
) -> datetime | None:
    """When the next SMS to this number fits the hourly limit; None when it fits now."""
    limit = settings.sms_per_number_per_hour
    recent = repository.recent_submissions(
        session, recipient=message.recipient, since=now - RATE_WINDOW, exclude_id=message.id
    )
    if len(recent) < limit:
        return None
    return recent[len(recent) - limit] + RATE_WINDOW


def _recover(session: Session, message: Message, settings: Settings) -> bool:
    """The worker that claimed ``message`` stopped. True: it was not handed over, send it."""
    gateway = get_gateway(message.gateway, settings)
    recalled = gateway.recall(message.reference)
    log.warning(
        "message found stuck in sending",
        extra={"message_id": message.id, "recalled": repr(recalled)},
    )
    if isinstance(recalled, Accepted):
        _mark_sent(session, message, recalled.refs)
        return False
    if recalled is NOT_SENT:
        message.status = PENDING
        message.claim_token = None
        message.submitted_at = None
        return True
    message.status = DEAD
    message.claim_token = None
    message.next_attempt_at = None
    message.last_error = UNKNOWN_OUTCOME
    session.flush()
    if message.submitted_at is not None:  # a receipt may have come before we looked
        for receipt in repository.orphan_receipts_by_reference(
            session, message.gateway, message.id % 65536, message.submitted_at
        ):
            if _destination_matches(message.recipient, receipt.destination):
                _settle_unknown(session, message, receipt)
                break
    return False


def hand_over(gateway: Gateway, claim: Claim) -> Accepted | GatewayError:
    """The network call, outside any transaction. Errors come back as values."""
    try:
        return gateway.send(claim.envelope)
    except GatewayError as exc:
        return exc
    except Exception as exc:  # a bug in a gateway: we cannot know what left
        log.exception("gateway failed unexpectedly", extra={"message_id": claim.message_id})
        return UncertainDelivery(f"the gateway failed unexpectedly: {exc!r}")


def record_outcome(session: Session, *, claim: Claim, outcome: Accepted | GatewayError) -> None:
    """Record a hand-over's outcome if the claim is still ours (the caller commits)."""
    settings = get_settings()
    message = repository.message(session, claim.message_id, for_update=True)
    if message is None or message.status != SENDING or message.claim_token != claim.token:
        log.error(
            "hand-over outcome arrived after its claim was taken over",
            extra={"message_id": claim.message_id, "outcome": repr(outcome)},
        )
        return
    message.claim_token = None
    if isinstance(outcome, Accepted):
        _mark_sent(session, message, outcome.refs)
        record_receipts(session, gateway=claim.gateway, receipts=outcome.receipts)
        if claim.gateway == "smpp":  # its receipts come back over the SMPP session
            _collect_soon(session)
        return
    message.last_error = str(outcome)[:2000]
    message.next_attempt_at = None
    if isinstance(outcome, TransientGatewayError):
        if message.attempts >= settings.notification_max_attempts:
            message.status = DEAD
        else:
            message.status = PENDING
            message.submitted_at = None
            retry_at = utcnow() + jobs.backoff(message.attempts, base=RETRY_BASE_SECONDS)
            message.next_attempt_at = retry_at
            _later(session, message, retry_at)
    elif isinstance(outcome, PermanentGatewayError):
        message.status = FAILED
    else:  # UncertainDelivery
        accepted = getattr(outcome, "accepted", None)
        if accepted is not None and accepted.refs:
            _add_parts(session, message, accepted.refs)
        message.status = DEAD
    session.flush()
    level = logging.WARNING if message.status == PENDING else logging.ERROR
    log.log(level, "message not sent", extra={"message_id": message.id, "status": message.status})


def _collect_soon(session: Session) -> None:
    """One receipt collection within the next minute, however many messages were sent."""
    due = utcnow() + RECEIPT_DELAY
    slot = int(due.timestamp()) // int(RECEIPT_DELAY.total_seconds())
    try:
        with session.begin_nested():  # a racing worker may queue the same slot first
            jobs.enqueue(
                session, COLLECT_RECEIPTS_JOB, {}, run_at=due, dedupe_key=f"receipts:{slot}"
            )
    except IntegrityError:
        pass


def _add_parts(session: Session, message: Message, refs: Sequence[str]) -> None:
    for number, ref in enumerate(refs, start=1):
        session.add(
            MessagePart(
                message_id=message.id, part=number, gateway=message.gateway, gateway_ref=ref
            )
        )
    session.flush()


def _mark_sent(session: Session, message: Message, refs: Sequence[str]) -> None:
    now = utcnow()
    message.status = SENT
    message.sent_at = now
    message.claim_token = None
    message.next_attempt_at = None
    message.last_error = None
    message.gateway_ref = refs[0][:64] if refs else None
    _add_parts(session, message, [ref[:64] for ref in refs])
    # receipts that arrived before the parts were recorded
    for receipt in repository.unmatched_receipts(session, message.gateway, refs):
        _apply(session, receipt)


# --- receipts ----------------------------------------------------------------------------


def record_receipts(session: Session, *, gateway: str, receipts: Sequence[Receipt]) -> int:
    """Store receipts (each once) and settle the messages they name; returns how many
    were new."""
    new = 0
    for item in receipts:
        stat = item.stat.upper()[:8]
        if repository.receipt(session, gateway, item.gateway_ref, stat) is not None:
            continue  # the SMSC sent it again (our acknowledgement was lost)
        receipt = DeliveryReceipt(
            gateway=gateway,
            gateway_ref=item.gateway_ref,
            stat=stat,
            error_code=item.error_code[:8],
            done_at=item.done_at,
            destination=item.destination[:32],
            user_reference=item.user_reference,
            text=item.text[:300],
        )
        session.add(receipt)
        session.flush()
        new += 1
        if not _apply(session, receipt) and item.user_reference is not None:
            for message in repository.unsettled_by_reference(session, gateway, item.user_reference):
                if _destination_matches(message.recipient, receipt.destination):
                    _settle_unknown(session, message, receipt)
                    break
    return new


def _destination_matches(recipient: str, destination: str) -> bool:
    a, b = recipient.lstrip("+"), destination.lstrip("+")
    return bool(a and b) and (a == b or a.endswith(b) or b.endswith(a))


def _settle_unknown(session: Session, message: Message, receipt: DeliveryReceipt) -> None:
    """A receipt proves a message whose hand-over outcome was lost did reach the SMSC."""
    log.warning("receipt settles a message of unknown outcome", extra={"message_id": message.id})
    message.status = SENT
    message.sent_at = message.sent_at or receipt.created_at or utcnow()
    message.last_error = None
    message.claim_token = None
    message.next_attempt_at = None
    message.gateway_ref = receipt.gateway_ref
    _add_parts(session, message, [receipt.gateway_ref])
    _apply(session, receipt)


def _apply(session: Session, receipt: DeliveryReceipt) -> bool:
    """Match ``receipt`` to its part and settle the message; False when no part matches."""
    part = repository.part_by_ref(session, receipt.gateway, receipt.gateway_ref)
    if part is None:
        return False
    receipt.message_id = part.message_id
    outcome = STATS.get(receipt.stat)
    if outcome is None:  # ACCEPTD, ENROUTE, UNKNOWN: not final
        session.flush()
        return True
    part.receipt_stat = receipt.stat
    part.status = outcome
    session.flush()
    message = repository.message(session, part.message_id)
    if message is None or message.status not in (SENT, DEAD, SENDING):
        return True
    states = [p.status for p in repository.parts(session, message.id)]
    if FAILED in states:
        message.status = FAILED
        message.last_error = f"delivery receipt: {receipt.stat} (error {receipt.error_code})"
    elif states and all(state == DELIVERED for state in states):
        message.status = DELIVERED
        message.delivered_at = receipt.done_at or utcnow()
    session.flush()
    return True
