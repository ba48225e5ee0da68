"""Surveys (buddy/services/surveys.py): one question a page, from a signed link (in the message,
or made afresh on the member's account page).

The signed link is the only key: it opens that one person's one survey, without signing in,
and nothing else (not another survey, not the account). Each page saves its answer.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for

from buddy import surveys as config
from buddy.db import get_session
from buddy.messaging import tokens
from buddy.models import SurveyRequest
from buddy.services import ServiceError, surveys

bp = Blueprint("surveys", __name__)


def _open(token: str) -> SurveyRequest:
    """The request of a survey link; a bad or expired one ends here with a page saying so."""
    try:
        return surveys.request_for_link(get_session(), token=token)
    except tokens.BadLink as exc:
        abort(Response(render_template("surveys/link_problem.html", problem=str(exc)), 400))


@bp.get("/<token>")
def start(token: str):
    found = _open(token)
    following = surveys.first_unanswered(get_session(), request=found)
    if following is None:
        return redirect(url_for("surveys.done", token=token))
    return redirect(url_for("surveys.question", token=token, key=following))


@bp.route("/<token>/<key>", methods=["GET", "POST"])
def question(token: str, key: str):
    found = _open(token)
    session = get_session()
    asked = surveys.questions(session, request=found)
    keys = [q.key for q in asked]
    if key not in keys:
        abort(404)
    at = keys.index(key)
    this = asked[at]
    value = surveys.current_answer(session, request=found, question=this) or ""
    error = None
    if request.method == "POST":
        value = request.form.get("answer", "")
        try:
            following = surveys.answer(session, request=found, question_key=key, value=value)
        except ServiceError as exc:
            session.rollback()
            error = next(iter(exc.errors.values()))
        else:
            # Straight on to the next question in order; after the last, the thank-you page.
            if at + 1 < len(keys) and following is not None:
                return redirect(url_for("surveys.question", token=token, key=keys[at + 1]))
            if following is not None:
                return redirect(url_for("surveys.question", token=token, key=following))
            return redirect(url_for("surveys.done", token=token))
    survey = config.surveys()[found.survey]
    back = url_for("surveys.question", token=token, key=keys[at - 1]) if at else None
    return render_template("surveys/question.html", survey=survey, question=this, value=value,
                           error=error, number=at + 1, total=len(keys), back=back,
                           ), 400 if error else 200


@bp.get("/<token>/done")
def done(token: str):
    found = _open(token)
    session = get_session()
    following = surveys.first_unanswered(session, request=found)
    asked = surveys.questions(session, request=found)
    return render_template("surveys/done.html", survey=config.surveys()[found.survey],
                           finished=following is None, token=token,
                           first=asked[0].key if asked else None, following=following)
