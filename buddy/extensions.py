"""Unbound extension singletons, bound to the app in create_app (breaks import cycles)."""

from flask_login import LoginManager
from flask_wtf import CSRFProtect

login_manager = LoginManager()
csrf = CSRFProtect()
