from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_serializer

from puhui.core.masking import mask_mobile


class MessageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    channel: str
    gateway: str
    recipient: str
    purpose: str
    body: str
    status: str
    created_at: datetime
    sent_at: datetime | None

    @field_serializer("recipient")
    def _mask_recipient(self, value: str) -> str:
        return mask_mobile(value)
