"""Start page, health check, static information pages."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, send_from_directory
from flask_login import current_user

from buddy.db import database_answers
from buddy.settings import ROOT
from buddy.views import home_for

bp = Blueprint("main", __name__)
ASSETS = ROOT / "node_modules" / "nhsuk-frontend" / "dist" / "nhsuk"


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return render_template("main/index.html")


@bp.get("/privacy")
def privacy():
    from buddy import intakes

    # The default; a region's override (config/programme.toml) is for its DA lead to tell.
    return render_template("main/privacy.html",
                           retention_months=intakes.programme().retention_months)


@bp.get("/healthz")
def healthz():
    """200 while the database answers; 503 otherwise, so a load balancer stops routing here."""
    if database_answers():
        return jsonify(status="ok", database=True), 200
    return jsonify(status="degraded", database=False,
                   message="The database is not answering"), 503


@bp.get("/assets/<path:filename>")
def assets(filename: str):
    """NHS.UK frontend files, installed by npm into node_modules (never committed)."""
    return send_from_directory(ASSETS, filename, max_age=3600)
