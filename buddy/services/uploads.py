"""Files a DA lead uploads and confirms after a preview (trainee lists, training outcomes):
kept under a random id, for the lead who uploaded them (and admins) only."""

from __future__ import annotations

import re
import secrets

import sqlalchemy as sa
from sqlmodel import Session

from buddy import scoping
from buddy.models import User
from buddy.services import NotFound, ServiceError


def keep(session: Session, model, *, lead: User, region: str, filename: str, text: str,
         **fields):
    """Keep a file's text for its preview under a new random id; commits."""
    kept = model(id=secrets.token_hex(16), user_id=lead.id, region=region,
                 filename=filename[:200], content=text, **fields)
    session.add(kept)
    session.commit()
    return kept


def kept_for(session: Session, model, *, lead: User, upload_id: str):
    """The upload `upload_id` of `model` kept for this lead (the admin may open any).

    :raises NotFound: for another lead's upload, a used one, or one that never was.
    """
    # Only a value our own token_hex could make reaches the database (no NUL, no length).
    kept = (session.get(model, upload_id)
            if re.fullmatch(r"[0-9a-f]{32}", upload_id or "") else None)
    if kept is None or (kept.user_id != lead.id and lead.role != "admin"):
        raise NotFound()
    scoping.check_region(lead, kept.region)  # a lead moved to another region since
    return kept


def use(session: Session, kept, store, *, conflict: str):
    """Store what a previewed upload holds (`store()`) and delete the upload, all or nothing;
    commits and returns what `store` returned.

    :raises ServiceError: `conflict`, when another upload stored some of the same rows at
        the same moment (nothing of this one is kept, and a fresh preview skips them).
    """
    try:
        done = store()
        session.delete(kept)
        session.commit()
    except sa.exc.IntegrityError:
        session.rollback()
        raise ServiceError(conflict) from None
    return done
