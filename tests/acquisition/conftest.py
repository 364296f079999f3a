"""The small city (tests/city.py): two entities with data, two banks, their staff and the
two enterprises' own accounts."""

from tests.city import city  # noqa: F401
