"""The Reflex app: registers pages and HTTP routes, nothing else."""

import reflex as rx


def index() -> rx.Component:
    return rx.text("Clinic")


app = rx.App()
app.add_page(index, route="/")
