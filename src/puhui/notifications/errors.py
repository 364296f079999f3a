from __future__ import annotations

from puhui.core.errors import Conflict, NotFound, ValidationFailed


class MessageNotFound(NotFound):
    default_code = "message_not_found"
    default_message = "No such message."


class InvalidRecipient(ValidationFailed):
    """A mobile number or e-mail address a message cannot be sent to."""

    default_code = "invalid_recipient"
    default_message = "This address cannot receive messages."


class MessageStateConflict(Conflict):
    default_code = "message_state"
    default_message = "This message is {state}; only a dead or failed message can be sent again."
