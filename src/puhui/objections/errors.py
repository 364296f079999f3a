"""Objection errors: status-coded, raised by the service."""

from __future__ import annotations

from puhui.core.errors import Conflict, NotFound


class ObjectionNotFound(NotFound):
    default_code = "objection_not_found"
    default_message = "No such objection."


class WrongState(Conflict):
    default_code = "objection_wrong_state"
    default_message = "The objection is {state}: this step is not possible now."


class AlreadyDisputed(Conflict):
    default_code = "objection_already_open"
    default_message = "This data item is already under objection."
