"""Messaging pages and Twilio webhooks (built with the messaging capability)."""

from flask import Blueprint

bp = Blueprint("messaging", __name__)
