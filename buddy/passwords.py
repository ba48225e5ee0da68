"""Password hashing: argon2id, behind this one module."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

MIN_LENGTH = 10


def _hasher() -> PasswordHasher:
    cfg = current_app.config
    return PasswordHasher(
        time_cost=cfg["BUDDY_ARGON2_TIME_COST"],
        memory_cost=cfg["BUDDY_ARGON2_MEMORY_KIB"],
        parallelism=cfg["BUDDY_ARGON2_PARALLELISM"],
    )


def hash_password(password: str) -> str:
    """Return an argon2id hash of `password`."""
    return _hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """Check `password`; return (ok, new_hash) where new_hash is set when parameters changed."""
    hasher = _hasher()
    try:
        hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(stored_hash):
        return True, hasher.hash(password)
    return True, None


def password_problem(password: str) -> str | None:
    """A plain-English reason the password is too weak, or None."""
    if len(password) < MIN_LENGTH:
        return f"Password must be at least {MIN_LENGTH} characters"
    if len(password) > 256:
        return "Password must be 256 characters or fewer"
    if len(set(password)) < 4:
        return "Password is too easy to guess: use a mix of letters, numbers or words"
    return None
