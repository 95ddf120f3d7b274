"""Jinja2 templates (HTML, autoescaped) of the draft pages, the review app and the site."""
