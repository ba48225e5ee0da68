"""Alembic, driven from Python (no alembic.ini): `buddy init-db` and the tests use this."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from buddy.settings import ROOT


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Migrate the database at `database_url` to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def revision(database_url: str, message: str) -> None:
    """Autogenerate a new revision against the database at `database_url`."""
    command.revision(alembic_config(database_url), message=message, autogenerate=True)
