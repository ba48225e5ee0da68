"""The `buddy` command: Flask's CLI on create_app, plus Buddy's own commands."""

from __future__ import annotations

import os
import sys

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext


def register(app: Flask) -> None:
    from buddy.messaging.cli import COMMANDS as messaging_commands

    for command in (init_db, demo, serve, create_admin, export_cohort, match, import_trainees,
                    *messaging_commands):
        app.cli.add_command(command)


def _create_app(*_args, **_kwargs) -> Flask:
    from buddy import create_app, logs
    from buddy.settings import ConfigError

    try:
        app = create_app()
    except ConfigError as exc:
        # A clear message, not a traceback, for a missing or unsafe setting.
        click.echo(f"Buddy cannot start: {exc}", err=True)
        sys.exit(1)
    # The start of every `buddy` process (serve, scheduler, dispatch...): JSON log lines to
    # standard error, and error reporting when BUDDY_SENTRY_DSN is set. Here, not in the
    # commands, so that tests invoking a command in their own process keep their logging.
    logs.setup_process(app.config)
    return app


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=True,
             add_version_option=False)
def main() -> None:
    """Buddy: peer buddying and ambassador matching for GP training."""


@click.command("init-db")
@with_appcontext
def init_db() -> None:
    """Create or upgrade the database to the latest migration (Alembic upgrade head)."""
    from buddy import migrate

    migrate.upgrade(current_app.config["BUDDY_DATABASE_URL"])
    click.echo("Database is up to date.")


@click.command("demo")
@with_appcontext
@click.option("--seed", default=2027, show_default=True, help="Random seed for the demo data.")
@click.option("--if-empty", is_flag=True, help="Do nothing if demo data is already loaded.")
def demo(seed: int, if_empty: bool) -> None:
    """Load realistic demo data for all 11 regions (replaces earlier demo data)."""
    from buddy import demo as demo_data
    from buddy.db import get_session
    from buddy.services import ServiceError

    try:
        # Before --if-empty looks at the database: production never gets a demo admin.
        demo_data.refuse_production(current_app.config["BUDDY_ENV"])
    except ServiceError as exc:
        raise click.ClickException(exc.errors[""]) from None
    if if_empty and demo_data.loaded(get_session()):
        click.echo("Demo data is already loaded (run `buddy demo` to load it afresh).")
        return
    try:
        counts = demo_data.load(session=get_session(), seed=seed,
                                password=current_app.config["BUDDY_DEMO_PASSWORD"])
    except ServiceError as exc:
        raise click.ClickException(exc.errors[""]) from None
    click.echo(", ".join(f"{n} {what}" for what, n in counts.items()))
    click.echo("Demo accounts: admin@example.org and lead.<region>@example.org "
               "(password in BUDDY_DEMO_PASSWORD).")


@click.command("create-admin")
@with_appcontext
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
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=lambda: int(os.environ.get("PORT", 5000)),
              show_default="5000 or $PORT")
def serve(host: str, port: int) -> None:
    """Serve the app with Werkzeug's threaded server (development; gunicorn in production)."""
    from werkzeug.serving import run_simple

    # Logging is set up by _create_app: Werkzeug's access log (raw paths, and signed links
    # carry tokens in them) is off, and the app logs one JSON line per request instead.
    # Not app.run(): Flask ignores it inside its own command line.
    from buddy.settings import FOLLOWS_PORT, development_url

    app = current_app._get_current_object()
    if app.config.get(FOLLOWS_PORT):
        # No BUDDY_PUBLIC_URL set: links in messages point at this server, on this port.
        app.config["BUDDY_PUBLIC_URL"] = development_url(port)
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _region_and_intake(region: str, intake: str | None) -> str:
    """The intake a command works on (REGION's next by default), after checking both.

    :raises click.BadParameter: for an unknown region or an intake not written YYYY-MM in
        one of the region's intake months (exit status 2, with what to type instead).
    """
    from buddy import clock, intakes, reference

    if region not in reference.regions():
        raise click.BadParameter(f"choose one of {', '.join(reference.regions())}",
                                 param_hint="REGION")
    if intake is None:
        return intakes.next_intake(clock.today(), region)
    try:
        return intakes.parse(intake, region)
    except intakes.BadIntake as exc:
        raise click.BadParameter(str(exc), param_hint="--intake") from None


INTAKE_HELP = "The intake, as YYYY-MM (default: the region's next intake)."


@click.command("export-cohort")
@with_appcontext
@click.argument("region")
@click.option("--intake", help=INTAKE_HELP)
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def export_cohort(region: str, intake: str | None, out: str | None) -> None:
    """Write the cohort v1 a family run for REGION's intake would see."""
    import json

    from buddy import intakes
    from buddy.db import get_session
    from buddy.services.cohorts import family_cohort

    intake = _region_and_intake(region, intake)
    text = json.dumps(family_cohort(get_session(), region, intake=intake), indent=2,
                      ensure_ascii=False)
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        click.echo(f"Wrote the {region} cohort for {intakes.label(intake)} to {out}.", err=True)
    else:
        click.echo(text)


@click.command("match")
@with_appcontext
@click.argument("region")
@click.option("--intake", help=INTAKE_HELP)
@click.option("--time-limit", default=30.0, show_default=True, help="Seconds for the solver.")
@click.option("--publish", "publish_now", is_flag=True, help="Publish the result as a lead would.")
def match(region: str, intake: str | None, time_limit: float, publish_now: bool) -> None:
    """Run a family match for REGION's intake here and print a summary (publish: --publish)."""
    from sqlmodel import select

    from buddy import intakes
    from buddy.db import get_session
    from buddy.models import User
    from buddy.services import ServiceError, cohorts, drafts, publishing, review, runs
    from buddy.statuses import RunStatus

    intake = _region_and_intake(region, intake)
    session = get_session()
    # Runs are recorded against a person: the region's lead, or else an admin.
    actor = session.exec(select(User).where(User.role == "lead", User.region == region)
                         .order_by(User.id)).first() or session.exec(
        select(User).where(User.role == "admin").order_by(User.id)).first()
    if actor is None:
        raise click.ClickException(f"no DA lead for {region} and no admin: create one first")
    try:
        run = runs.start_run(session, lead=actor, region=region, time_limit_s=time_limit,
                             intake=intake)
    except ServiceError as exc:
        raise click.ClickException("; ".join(exc.errors.values())) from None
    if not cohorts.confirmed(session, region, intake):
        click.echo(f"No volunteer has confirmed for {intakes.label(intake)} yet: nobody who "
                   "did not confirm is put in a new family.", err=True)
    run = runs.execute_run(session, run.id)
    if run.status == RunStatus.FAILED:
        raise click.ClickException(f"run {run.id} failed: {run.error}")
    summary = review.summary(session, run)
    metrics = summary["metrics"]
    result = run.result
    click.echo(f"Run {run.id} for {region}, {intakes.label(intake)}: {result['status']}, "
               f"objective {result['objective']}, bound {result['bound']}, "
               f"{result['seconds']:.1f} s")
    click.echo("Metrics: " + ", ".join(
        f"{k} {metrics[k]}" for k in ("coverage", "language", "interest", "scheme", "country",
                                      "three_stages", "hospital", "size_spread", "families")))
    for family, members in drafts.draft_families(session, run):
        click.echo(f"  {family.code}: " + ", ".join(f"{p.full_name} ({m.place})"
                                                   for m, p in members))
    for person, reason in summary["unmatched"]:
        click.echo(f"  unmatched: {person.full_name if person else '?'}: {reason}")
    if publish_now:
        publishing.publish(session, lead=actor, run_id=run.id)
        click.echo(f"Published run {run.id}.")


@click.command("import-trainees")
@with_appcontext
@click.argument("region")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True))
@click.option("--dry-run", is_flag=True, help="Show what would happen; import nothing.")
@click.option("--skip-bad", is_flag=True,
              help="Import the good rows even when some rows have problems.")
@click.option("--as", "as_", type=click.Choice(["newcomers", "volunteers"]),
              default="newcomers", show_default=True,
              help="Invite the people on the list to join as newcomers or as volunteers.")
def import_trainees(region: str, file: str, dry_run: bool, skip_bad: bool, as_: str) -> None:
    """Invite the people on REGION's trainee list FILE (CSV; docs/sample-trainee-list.csv).

    Exits 1, naming the rows, and imports nothing when any row has a problem (unless
    --skip-bad); all good rows are imported in one transaction, or none.
    """
    from buddy import reference
    from buddy.db import get_session
    from buddy.services import invitations, trainee_lists

    if region not in reference.regions():
        raise click.BadParameter(f"choose one of {', '.join(reference.regions())}",
                                 param_hint="REGION")
    role = trainee_lists.ROLES[as_]
    with open(file, "rb") as fh:
        data = fh.read()
    session = get_session()
    try:
        parsed = trainee_lists.read(data, region=region, role=role)
    except trainee_lists.BadFile as exc:
        raise click.ClickException(f"{file}: {exc.errors['file']}") from None
    checked = trainee_lists.check(session, parsed=parsed, region=region)
    click.echo(f"{file}: read as {parsed.encoding}, "
               f"{'semicolon' if parsed.delimiter == ';' else 'comma'} separated.")
    for problem in parsed.problems:
        click.echo(problem.words, err=True)
    for skipped in checked.skipped:
        click.echo(f"Row {skipped.row}, {skipped.full_name}: skipped, {skipped.reason}")
    for note in parsed.notes:
        click.echo(note)
    n = len(checked.to_invite)
    bad = len(parsed.bad_rows)
    if bad and not skip_bad:
        click.echo(f"{bad} {'row has' if bad == 1 else 'rows have'} problems: nothing was "
                   "imported. Fix them and run again, or add --skip-bad to import the "
                   "other rows.", err=True)
        sys.exit(1)
    if dry_run:
        click.echo(f"Dry run: {n} would be invited, {len(checked.skipped)} skipped, "
                   f"{bad} rows with problems left out. Nothing was imported.")
        return
    invitations.import_rows(session, trainees=checked.to_invite, region=region, role=role,
                            actor=None, source="cli", skipped=len(checked.skipped), bad=bad)
    session.commit()
    click.echo(f"Invited {n} {as_}, skipped {len(checked.skipped)}"
               f"{f', left out {bad} rows with problems' if bad else ''}.")
