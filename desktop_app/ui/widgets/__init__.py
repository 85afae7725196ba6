"""Reusable widgets: job rows and panel, banners, the source viewer."""
