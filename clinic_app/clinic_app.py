"""The Reflex app: registers pages and HTTP routes, nothing else."""

import reflex as rx

from clinic_app.api.routes import build_api


def index() -> rx.Component:
    return rx.text("Clinic")


app = rx.App(api_transformer=build_api())
app.add_page(index, route="/")
