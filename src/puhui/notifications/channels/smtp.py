"""E-mail over SMTP with the standard library's ``smtplib`` (one connection a message).

The SMTP transaction is driven step by step so that its errors can be told apart: a
refusal before the end of ``DATA`` hands nothing over (4xx: try again later, 5xx: refused
for good); a connection that breaks while the server answers ``DATA`` leaves the outcome
unknown (:class:`UncertainDelivery`). The ``Message-ID`` is the message's stable
reference, so a mail client that sees the same message twice shows it once.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from puhui.notifications.channels import (
    Accepted,
    Envelope,
    PermanentGatewayError,
    Recalled,
    TransientGatewayError,
    UncertainDelivery,
)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str
    password: str
    security: str  # none, starttls, tls
    timeout: float
    mail_from: str

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            security=settings.smtp_security,
            timeout=settings.smtp_timeout_seconds,
            mail_from=settings.mail_from,
        )


def _refusal(what: str, code: int, reply: bytes | str) -> Exception:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    reason = f"the mail server refused {what}: {code} {text}"
    return PermanentGatewayError(reason) if code >= 500 else TransientGatewayError(reason)


class SmtpGateway:
    name = "smtp"

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def prepare(self) -> None:
        return None  # connecting is part of send: nothing is handed over before DATA ends

    def compose(self, envelope: Envelope) -> EmailMessage:
        domain = self.config.mail_from.rpartition("@")[2] or "localhost"
        mail = EmailMessage()
        mail["From"] = self.config.mail_from
        mail["To"] = envelope.recipient
        mail["Subject"] = envelope.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{envelope.reference}@{domain}>"
        mail.set_content(envelope.body, charset="utf-8")
        return mail

    def _open(self) -> smtplib.SMTP:
        cfg = self.config
        try:
            smtp: smtplib.SMTP
            if cfg.security == "tls":
                smtp = smtplib.SMTP_SSL(
                    cfg.host, cfg.port, timeout=cfg.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            if cfg.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
            if cfg.username:
                smtp.login(cfg.username, cfg.password)
        except smtplib.SMTPResponseException as exc:
            raise TransientGatewayError(
                f"the mail server at {cfg.host}:{cfg.port} refused the session: "
                f"{exc.smtp_code} {exc.smtp_error!r}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise TransientGatewayError(
                f"the mail server at {cfg.host}:{cfg.port} cannot be reached: {exc!r}"
            ) from exc
        return smtp

    def send(self, envelope: Envelope) -> Accepted:
        mail = self.compose(envelope)
        smtp = self._open()
        try:
            try:
                smtp.ehlo_or_helo_if_needed()
                code, reply = smtp.mail(self.config.mail_from)
                if code != 250:
                    raise _refusal("the sender", code, reply)
                code, reply = smtp.rcpt(envelope.recipient)
                if code not in (250, 251):
                    raise _refusal("the recipient", code, reply)
            except (smtplib.SMTPException, OSError) as exc:
                raise TransientGatewayError(f"the mail session broke: {exc!r}") from exc
            try:
                code, reply = smtp.data(mail.as_bytes())
            except smtplib.SMTPDataError as exc:  # refused at the start or end of DATA
                raise _refusal("the message", exc.smtp_code, exc.smtp_error) from exc
            except (smtplib.SMTPException, OSError) as exc:
                raise UncertainDelivery(
                    f"the mail session broke during DATA (it may have been accepted): {exc!r}"
                ) from exc
            if code != 250:
                raise _refusal("the message", code, reply)
            return Accepted(refs=(str(mail["Message-ID"]),))
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def recall(self, reference: str) -> Recalled:
        return None  # SMTP cannot ask whether a message was accepted
