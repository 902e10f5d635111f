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

# One process (default) serves pages and events on one port. Scale-out (`clinic up --processes N`,
# or `--scale-out` with one process):
# tab state lives in Redis so any backend process can serve any tab, and the static frontend talks
# to the nginx address, not to one backend.
DEPLOYMENT = (
    {"redis_url": settings.effective_redis_url, "api_url": settings.effective_public_url}
    if settings.effective_scale_out
    else {"frontend_port": settings.port, "backend_port": settings.port}
)

config = rx.Config(
    app_name="clinic_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=THEME)],
    disable_plugins=[rx.plugins.SitemapPlugin],
    **DEPLOYMENT,
)
