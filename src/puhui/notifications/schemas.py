from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from puhui.core.masking import mask_mobile, mask_text


def mask_recipient(channel: str, value: str) -> str:
    """Mobiles as ``138****5678``, e-mail addresses as ``z***g@example.com``."""
    if channel == "email" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{mask_text(local) if len(local) > 2 else '*' * len(local)}@{domain}"
    return mask_mobile(value)


class MessageRead(BaseModel):
    """A message in the outbox, as operators see it (the recipient masked)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str = Field(description="inbox, sms or email")
    gateway: str = Field(description="inbox, log, smpp or smtp")
    recipient: str
    user_id: int | None
    purpose: str
    template: str | None
    locale: str
    subject: str
    body: str
    status: str = Field(description="pending, sending, sent, delivered, failed or dead")
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    gateway_ref: str | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    receipts: list[str] = Field(default_factory=list, description="receipt stats, in order")

    @model_serializer(mode="wrap")
    def _mask(self, handler):  # type: ignore[no-untyped-def]
        data = handler(self)
        data["recipient"] = mask_recipient(self.channel, self.recipient)
        return data


class InboxMessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    body: str
    purpose: str
    created_at: datetime
    read_at: datetime | None


class UnreadCount(BaseModel):
    unread: int = Field(ge=0)
