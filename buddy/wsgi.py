"""The WSGI entry point for gunicorn: `gunicorn -c config/gunicorn.conf.py buddy.wsgi:app`.

Each worker builds its own app (and database engine) after the fork; nothing here starts
the scheduler, which runs as its own process (`buddy scheduler`).
"""

from buddy import create_app, logs

app = create_app()
# This is the worker's start: JSON log lines to standard error (the journal), and error
# reporting when BUDDY_SENTRY_DSN is set.
logs.setup_process(app.config)
