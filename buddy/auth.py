"""Flask-Login glue: ids carry a session version so a password change ends old sessions."""

from __future__ import annotations

from functools import wraps

from flask import abort
from flask_login import UserMixin, current_user

from buddy.db import get_session
from buddy.extensions import login_manager
from buddy.models import User
from buddy.services.leads import FORMER


class LoginUser(UserMixin):
    """The logged-in user as Flask-Login sees it; wraps the database row."""

    def __init__(self, user: User):
        self.row = user

    def get_id(self) -> str:
        return f"{self.row.id}:{self.row.session_version}"

    def __getattr__(self, name):
        return getattr(self.row, name)


@login_manager.user_loader
def load_user(token: str) -> LoginUser | None:
    try:
        user_id, version = (int(part) for part in token.split(":", 1))
    except ValueError:
        return None
    user = get_session().get(User, user_id)
    # A removed DA lead's sessions end at once, copies of the cookie included.
    if user is None or user.session_version != version or user.role == FORMER:
        return None
    return LoginUser(user)


def role_required(*roles: str):
    """Allow only logged-in users with one of `roles`; others get a 404 (nothing to probe)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(404)
            return view(*args, **kwargs)

        return wrapped

    return decorator
