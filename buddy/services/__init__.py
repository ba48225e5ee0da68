"""Services own validation and transactions; views and CLI commands call them."""


class ServiceError(Exception):
    """Input that breaks a rule. `errors` maps a form field (or "" for the form) to a message."""

    def __init__(self, errors: dict[str, str] | str):
        if isinstance(errors, str):
            errors = {"": errors}
        self.errors = errors
        super().__init__("; ".join(errors.values()))


class NotFound(Exception):
    """The record does not exist or is outside what the user may see."""
