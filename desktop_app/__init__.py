"""Hearth: a private AI assistant over your own documents, fully offline."""

__version__ = "0.1.0"
APP_NAME = "Hearth"
