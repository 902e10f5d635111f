"""The generated nginx config sends every backend route to the backends."""

from __future__ import annotations

from pathlib import Path

from starlette.routing import Route

from clinic_app.api.routes import build_api
from clinic_app.scaleout import BACKEND_PREFIXES, backend_ports, nginx_config
from clinic_app.settings import Settings


def test_every_http_route_is_proxied_to_the_backends() -> None:
    paths = [route.path for route in build_api().routes if isinstance(route, Route)]
    assert paths, "the API has routes"
    unproxied = [p for p in paths if not any(p.startswith(prefix) for prefix in BACKEND_PREFIXES)]
    assert unproxied == [], f"add these to BACKEND_PREFIXES in clinic_app/scaleout.py: {unproxied}"


def test_config_lists_each_backend_and_upgrades_websockets(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, port=4000)
    ports = backend_ports(settings, 3)
    assert ports == [4001, 4002, 4003]
    config = nginx_config(settings, ports, tmp_path / "static")
    for port in ports:
        assert f"server 127.0.0.1:{port} " in config
    assert "listen 127.0.0.1:4000;" in config
    assert "location ^~ /_event" in config and "$connection_upgrade" in config
    assert f"root {tmp_path / 'static'};" in config
    assert "proxy_next_upstream error timeout" in config
