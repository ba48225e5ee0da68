"""The `buddy` command: Flask's CLI on create_app, plus Buddy's own commands."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup


def register(app: Flask) -> None:
    from buddy.messaging.cli import COMMANDS as messaging_commands

    for command in (init_db, demo, serve, create_admin, *messaging_commands):
        app.cli.add_command(command)


def _create_app(*_args, **_kwargs) -> Flask:
    from buddy import create_app
    from buddy.settings import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A clear message, not a traceback, for a missing or unsafe setting.
        click.echo(f"Buddy cannot start: {exc}", err=True)
        sys.exit(1)


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             add_version_option=False)
def main() -> None:
    """Buddy: peer buddying and ambassador matching for GP training."""


@click.command("init-db")
def init_db() -> None:
    """Create or upgrade the database to the latest migration (Alembic upgrade head)."""
    from buddy import migrate

    migrate.upgrade(current_app.config["BUDDY_DATABASE_URL"])
    click.echo("Database is up to date.")


@click.command("demo")
@click.option("--seed", default=2027, show_default=True, help="Random seed for the demo data.")
@click.option("--if-empty", is_flag=True, help="Do nothing if demo data is already loaded.")
def demo(seed: int, if_empty: bool) -> None:
    """Load realistic demo data for all 11 regions (replaces earlier demo data)."""
    from buddy import demo as demo_data
    from buddy.db import get_session

    if if_empty and demo_data.loaded(get_session()):
        click.echo("Demo data is already loaded (run `buddy demo` to load it afresh).")
        return
    counts = demo_data.load(session=get_session(), seed=seed,
                            password=current_app.config["BUDDY_DEMO_PASSWORD"])
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()))
    click.echo("Demo accounts: admin@example.org and lead.<region>@example.org "
               "(password in BUDDY_DEMO_PASSWORD).")


@click.command("create-admin")
@click.argument("email")
@click.argument("full_name")
@click.password_option()
def create_admin(email: str, full_name: str, password: str) -> None:
    """Create an admin account (for a new deployment)."""
    from buddy.db import get_session
    from buddy.services import ServiceError, accounts

    try:
        accounts.create_staff(session=get_session(), actor=None, email=email,
                              full_name=full_name, role="admin", region=None, password=password)
    except ServiceError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from None
    click.echo(f"Admin {email} created.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=lambda: int(os.environ.get("PORT", 5000)),
              show_default="5000 or $PORT")
def serve(host: str, port: int) -> None:
    """Serve the app with Flask's threaded server (development; use gunicorn in production)."""
    current_app.run(host=host, port=port, threaded=True, use_reloader=False)
