"""The small city with an online product of bank A."""

from tests.city import city  # noqa: F401
