"""The small city the profile tests share with the consent tests."""

from tests.city import city  # noqa: F401
