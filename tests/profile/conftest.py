"""The small city the profile tests share with the consent tests."""

import pytest

from tests.city import city  # noqa: F401


@pytest.fixture
def settings_(settings, tmp_path):
    """Settings with an empty private data folder (no snapshot, no lake)."""
    return settings.model_copy(update={"data_dir": tmp_path})
