from __future__ import annotations

import pytest
from sqlalchemy.orm import sessionmaker

from puhui.ingest import service


@pytest.fixture
def world(connection, settings, tmp_path):
    """(session factory inside the test's transaction, settings with a private data folder,
    that folder), with the default data sources registered."""
    settings = settings.model_copy(update={"data_dir": tmp_path})
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    with factory.begin() as s:
        service.ensure_default_sources(s)
    return factory, settings, tmp_path
