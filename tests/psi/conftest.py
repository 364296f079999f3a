"""The small city (tests/city.py): two entities with data, two banks and their staff."""

from tests.city import city  # noqa: F401
