"""Annotation drawings: save latency, server-side PNG rendering, canvas responsiveness.

* Validation: ``validate_drawing`` (size check, schema, normalised copy) on a synthetic ~100 KB
  drawing of freehand pen/eraser strokes and shapes, p95 of 50 runs; its canonical JSON size.
* Render: ``render_png`` of a 2,000-point drawing (pen and eraser strokes, every shape type) on
  a 1,600×1,200 photo-like background, median of 10, against Pillow merely resizing the same
  background to the output size and encoding it as PNG (same zlib level): the ratio is what the
  annotations cost on top of producing the picture at all.
* Save: the full autosave (``records.save_draft``: validation, JSONB write with its GIN
  indexes, audit row, commit) of that ~100 KB drawing on PostgreSQL, p95 of 50, against a bare
  ``UPDATE … SET drawing_data`` of the same JSON. Goal: the issue asks for the p95.
* Canvas: the production app (``clinic up``) in headless Chromium; a pen stroke of 100 pointer
  moves over a record already holding 5,000 points, time from each pointer event to the next
  painted frame (p95), against the same stroke on an empty record.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

VALIDATION_RUNS = 50
RENDER_RUNS = 10
RENDER_POINTS = 2_000
BACKGROUND_SIZE = (1600, 1200)
STAGE = {"width": 800, "height": 600}


def _stroke(rng: random.Random, points: int, *, tool: str = "pen") -> dict[str, Any]:
    """A freehand stroke as the editor records it: one point per pointer move, 0.1 px steps."""
    x, y = rng.uniform(60, 740), rng.uniform(60, 540)
    heading = rng.uniform(0, 2 * math.pi)
    flat: list[float] = []
    for _ in range(points):
        heading += rng.uniform(-0.3, 0.3)
        x = min(max(x + 3 * math.cos(heading), 0), STAGE["width"])
        y = min(max(y + 3 * math.sin(heading), 0), STAGE["height"])
        flat += [round(x, 1), round(y, 1)]
    color = rng.choice(["#d03030", "#1f6feb", "#1a7f37", "#000000"])
    return {"tool": tool, "points": flat, "color": color, "strokeWidth": rng.choice([2, 3, 5])}


def _shapes(rng: random.Random, count: int) -> list[dict[str, Any]]:
    shapes: list[dict[str, Any]] = []
    for i in range(count):
        kind = ("circle", "rect", "arrow", "text")[i % 4]
        shape: dict[str, Any] = {
            "id": f"shape-{i}",
            "type": kind,
            "x": round(rng.uniform(50, 700), 1),
            "y": round(rng.uniform(50, 500), 1),
            "color": "#d03030",
            "strokeWidth": 2,
        }
        if kind == "circle":
            shape["radius"] = round(rng.uniform(5, 60), 1)
        elif kind == "rect":
            shape["width"], shape["height"] = rng.uniform(10, 90), rng.uniform(10, 90)
        elif kind == "arrow":
            shape["points"] = [0, 0, round(rng.uniform(-80, 80), 1), round(rng.uniform(-80, 80))]
        else:
            shape["text"], shape["fontSize"] = f"lesion {i}", 18
        shapes.append(shape)
    return shapes


def _drawing(rng: random.Random, strokes: int, points: int, shapes: int) -> dict[str, Any]:
    return {
        "lines": [
            _stroke(rng, points, tool="eraser" if i % 7 == 6 else "pen") for i in range(strokes)
        ],
        "shapes": _shapes(rng, shapes),
        "stageSize": dict(STAGE),
        "backgroundType": "image",
        "backgroundFileId": "0b6f4c1e-5d2a-4f7e-9a51-3c2d8e7f1a60",
        "pdfPageNumber": None,
        "pdfNumPages": None,
    }


def _background() -> Image.Image:
    """Smooth gradients plus sensor-like noise: compresses like a photo, not like a flat fill."""
    width, height = BACKGROUND_SIZE
    gradient = Image.merge(
        "RGB",
        (
            Image.linear_gradient("L").resize(BACKGROUND_SIZE),
            Image.radial_gradient("L").resize(BACKGROUND_SIZE),
            Image.linear_gradient("L").rotate(90).resize(BACKGROUND_SIZE),
        ),
    )
    noise = Image.effect_noise(BACKGROUND_SIZE, 24).convert("RGB")
    return Image.blend(gradient, noise, 0.15)


def _timings_ms(fn: Callable[[], object], runs: int) -> list[float]:
    fn()  # warm: imports, font cache, schema validator
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    from clinic_app.services import drawing, drawing_render

    rng = random.Random(20261201)
    data = _drawing(rng, strokes=75, points=110, shapes=40)
    size = len(drawing.canonical_json(data))
    checked = drawing.validate_drawing(data, max_bytes=2 * 1024 * 1024)
    timings = _timings_ms(
        lambda: drawing.validate_drawing(data, max_bytes=2 * 1024 * 1024), VALIDATION_RUNS
    )
    p95 = statistics.quantiles(timings, n=20)[18]
    numbers = sum(len(line["points"]) for line in checked["lines"])
    print(
        f"drawing: validate_drawing, {len(checked['lines'])} strokes ({numbers:,} numbers)"
        f" + {len(checked['shapes'])} shapes, canonical JSON {size / 1024:.1f} KB"
    )
    print(
        f"  validation p95 {p95:6.1f} ms  median {statistics.median(timings):6.1f} ms"
        f"  ({VALIDATION_RUNS} runs)"
    )

    render_data = drawing.validate_drawing(
        _drawing(random.Random(7), strokes=10, points=RENDER_POINTS // 10, shapes=12),
        max_bytes=2 * 1024 * 1024,
    )
    background = _background()
    print(
        f"  render: {RENDER_POINTS:,}-point drawing + 12 shapes on a"
        f" {BACKGROUND_SIZE[0]}×{BACKGROUND_SIZE[1]} background, median of {RENDER_RUNS}"
    )
    for scale in (1.0, 2.0):
        size_out = (round(STAGE["width"] * scale), round(STAGE["height"] * scale))

        def ours(scale: float = scale) -> bytes:
            return drawing_render.render_png(render_data, background, scale=scale)

        def plain(size_out: tuple[int, int] = size_out) -> bytes:
            image = background
            if image.size != size_out:
                image = image.resize(size_out, Image.Resampling.LANCZOS, reducing_gap=3.0)
            buffer = io.BytesIO()
            image.save(buffer, format="PNG", compress_level=drawing_render.PNG_COMPRESS_LEVEL)
            return buffer.getvalue()

        our_ms = statistics.median(_timings_ms(ours, RENDER_RUNS))
        plain_ms = statistics.median(_timings_ms(plain, RENDER_RUNS))
        print(
            f"    {size_out[0]}×{size_out[1]} (scale {scale:g}): render_png {our_ms:6.1f} ms"
            f"  resize+PNG only {plain_ms:6.1f} ms  ratio {our_ms / plain_ms:4.2f}"
            f"  ({len(ours()) / 1024:.0f} KB)"
        )
    _save_latency(data)
    _pointer_to_paint()
    return 0


def _save_latency(data: dict[str, Any]) -> None:
    from bench.postgres import scratch_database

    admin = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    with scratch_database(admin, f"clinic_bench_drawing_{os.getpid()}") as url:
        os.environ.update(CLINIC_DATABASE_URL=url, CLINIC_DATA_DIR=tempfile.mkdtemp())
        import sqlalchemy as sa
        from sqlmodel import select

        from clinic_app import migrations
        from clinic_app.db import get_engine, session_scope
        from clinic_app.security.actor import Actor
        from clinic_app.services import records
        from clinic_app.services.demo import load_demo_clinic
        from clinic_app.settings import get_settings
        from models import Membership, Patient, User

        for cached in (get_settings, get_engine):
            cached.cache_clear()
        migrations.upgrade_head(url)
        with session_scope() as session:
            load_demo_clinic(session)
        with session_scope() as session:
            user = session.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
            member = session.exec(select(Membership).where(Membership.user_id == user.id)).one()
            actor = Actor(user.id, member.clinic_id, member.role, user.full_name, user.email)
            patient = session.exec(select(Patient)).first()
            assert patient is not None
            row = records.create(session, actor=actor, patient_id=str(patient.id))
            record_id, version = str(row.id), row.version
        payload = json.dumps(data)
        timings = []
        for _ in range(VALIDATION_RUNS):
            started = time.perf_counter()
            with session_scope(clinic_id=actor.clinic_id) as session:
                version = records.save_draft(
                    session,
                    actor=actor,
                    record_id=record_id,
                    version=version,
                    drawing_data=payload,
                ).version
            timings.append((time.perf_counter() - started) * 1000)
        bare = []
        for _ in range(VALIDATION_RUNS):
            started = time.perf_counter()
            with get_engine().begin() as connection:
                connection.execute(
                    sa.text(
                        "UPDATE medical_records SET drawing_data = CAST(:d AS jsonb) WHERE id = :id"
                    ),
                    {"d": payload, "id": record_id},
                )
            bare.append((time.perf_counter() - started) * 1000)
        ours, plain = (statistics.quantiles(t, n=20)[18] for t in (timings, bare))
        print(
            f"  save (PostgreSQL, ~100 KB): records.save_draft p95 {ours:6.1f} ms vs bare UPDATE"
            f" p95 {plain:5.1f} ms (ratio {ours / plain:4.2f})"
        )
        get_engine().dispose()


SEED = """
import json, sys
from sqlmodel import select
from clinic_app.db import session_scope
from clinic_app.security.actor import Actor
from clinic_app.services import records
from models import Membership, Patient, User
lines = json.loads(sys.argv[1])
with session_scope() as s:
    user = s.exec(select(User).where(User.email == "doctor@demo.clinic")).one()
    m = s.exec(select(Membership).where(Membership.user_id == user.id)).one()
    actor = Actor(user.id, m.clinic_id, m.role, user.full_name, user.email)
    patient = s.exec(select(Patient)).first()
    ids = []
    for drawn in (lines, []):
        row = records.create(s, actor=actor, patient_id=str(patient.id), background="none")
        s.flush()
        data = {**row.drawing_data, "lines": drawn}
        records.save_draft(s, actor=actor, record_id=str(row.id), version=row.version,
                           drawing_data=json.dumps(data))
        ids.append(str(row.id))
print(" ".join(ids))
"""

MEASURE = """async ([moves]) => {
    const canvas = document.querySelectorAll('[data-testid=drawing-editor] canvas')[1];
    const target = canvas.parentElement;
    const box = target.getBoundingClientRect();
    const fire = (type, x, y) => target.dispatchEvent(new PointerEvent(type, {
        bubbles: true, clientX: box.left + x, clientY: box.top + y, pointerId: 1,
        pointerType: 'mouse', buttons: type === 'pointerup' ? 0 : 1 }));
    const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    fire('pointerdown', 100, 100);
    await frame();
    const times = [];
    for (let i = 1; i <= moves; i++) {
        const started = performance.now();
        fire('pointermove', 100 + i * 4, 100 + (i % 20) * 3);
        await frame();
        times.push(performance.now() - started);
    }
    fire('pointerup', 100 + moves * 4, 100);
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length * 0.95)];
}"""


def _pointer_to_paint() -> None:
    from playwright.sync_api import sync_playwright

    from clinic_app.local_server import PROJECT_ROOT, local_server
    from clinic_app.services.demo import DEMO_PASSWORD

    rng = random.Random(5)
    lines = [_stroke(rng, 100) for _ in range(25)]  # 25 strokes × 100 points = 5,000 points
    for line in lines:
        line["points"] = [min(p, 590) for p in line["points"]]
    with tempfile.TemporaryDirectory() as tmp, local_server(Path(tmp)) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_")}
        env["CLINIC_DATA_DIR"] = str(server.data_dir)
        seeded = subprocess.run(
            [sys.executable, "-c", SEED, json.dumps(lines)],
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        full, empty = seeded.stdout.split()[-2:]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--headless", "--no-sandbox", "--disable-gpu"],
            )
            page = browser.new_page(base_url=server.url, viewport={"width": 1280, "height": 900})
            page.goto("/login")
            page.get_by_test_id("login-email").fill("doctor@demo.clinic")
            page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
            page.get_by_test_id("login-password").press("Enter")
            page.wait_for_url(re.compile(r"/worklist/?$"))
            results = {}
            for name, record_id in (("5,000 points", full), ("empty", empty)):
                page.goto(f"/records?record={record_id}")
                page.get_by_test_id("drawing-editor").locator("canvas").first.wait_for()
                page.wait_for_timeout(500)
                results[name] = float(page.evaluate(MEASURE, [100]))
            browser.close()
    print(
        f"  canvas pointer-to-paint p95 (100 moves of a pen stroke): {results['5,000 points']:.1f}"
        f" ms on a record holding 5,000 points vs {results['empty']:.1f} ms on an empty one"
        f" (ratio {results['5,000 points'] / max(results['empty'], 0.1):.2f})"
    )


if __name__ == "__main__":
    raise SystemExit(main())
