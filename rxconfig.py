"""Reflex configuration; every value comes from clinic_app.settings."""

import reflex as rx

from clinic_app.settings import get_settings

settings = get_settings()

config = rx.Config(
    app_name="clinic_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=settings.port,
    backend_port=settings.port,
    disable_plugins=["reflex.plugins.sitemap.SitemapPlugin"],
)
