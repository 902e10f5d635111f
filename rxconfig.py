"""Reflex configuration; every value comes from clinic_app.settings."""

import reflex as rx

from clinic_app.settings import get_settings

settings = get_settings()

THEME = rx.theme(
    appearance="light",
    accent_color="teal",
    gray_color="slate",
    radius="medium",
    scaling="100%",
    panel_background="solid",
)

config = rx.Config(
    app_name="clinic_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    frontend_port=settings.port,
    backend_port=settings.port,
    plugins=[rx.plugins.RadixThemesPlugin(theme=THEME)],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
