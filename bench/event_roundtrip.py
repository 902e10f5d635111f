"""Event round trip: click → websocket event → state update → DOM changed, timed in the page.

Compares one of our pages (a signed-in doctor opening patients on the Patients page: access
check, clinic-scoped query, state diff) with a blank counter page of the same production build.
Goal: ratio of p50 and p95 ≤ 1.3.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

from clinic_app.local_server import CHROMIUM, CHROMIUM_ARGS, local_server
from clinic_app.services.demo import DEMO_PASSWORD

CLICKS = 200
WARMUP = 20
BLOCK = 50

# Clicks `click` (a selector) and resolves with the ms until the text of `watch` changes.
TIMED_CLICK_JS = """async ([clickSel, watchSel]) => {
  const read = () => document.querySelector(watchSel)?.textContent ?? null;
  const before = read();
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no DOM change in 5 s')), 5000);
    const observer = new MutationObserver(() => {
      if (read() !== before) {
        const elapsed = performance.now() - t0;
        observer.disconnect();
        clearTimeout(timer);
        resolve(elapsed);
      }
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
    const t0 = performance.now();
    document.querySelector(clickSel).click();
  });
}"""


def timed_clicks(page: Page, clicks: list[tuple[str, str]]) -> list[float]:
    return [float(page.evaluate(TIMED_CLICK_JS, [c, w])) for c, w in clicks]


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def open_counter(page: Page, url: str) -> list[tuple[str, str]]:
    page.goto(f"{url}/bench/counter")
    page.wait_for_selector("#bench-count")
    return [("#bench-increment", "#bench-count")]


def open_patients(page: Page, url: str) -> list[tuple[str, str]]:
    page.goto(f"{url}/login")
    page.get_by_test_id("login-email").fill("doctor@demo.clinic")
    page.get_by_test_id("login-password").fill(DEMO_PASSWORD)
    page.get_by_test_id("login-submit").click()
    page.wait_for_url("**/worklist")
    page.goto(f"{url}/patients")
    rows = page.get_by_test_id("patient-row")
    rows.first.wait_for()
    first, second = rows.nth(0).get_attribute("id"), rows.nth(1).get_attribute("id")
    detail = "[data-testid=patient-detail-name]"
    return [(f"#{first}", detail), (f"#{second}", detail)]


def run(url: str) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {"counter": [], "patients": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = {name: browser.new_context().new_page() for name in samples}
        targets = {
            "counter": open_counter(pages["counter"], url),
            "patients": open_patients(pages["patients"], url),
        }
        for name, page in pages.items():  # warm-up, not measured
            timed_clicks(page, [targets[name][i % len(targets[name])] for i in range(WARMUP)])
        for _block in range(CLICKS // BLOCK):  # interleave blocks so drift hits both alike
            for name, page in pages.items():
                plan = [targets[name][i % len(targets[name])] for i in range(BLOCK)]
                samples[name].extend(timed_clicks(page, plan))
        browser.close()
    return samples


def report(samples: dict[str, list[float]]) -> dict[str, float]:
    base, ours = samples["counter"], samples["patients"]
    figures = {
        "counter_p50": statistics.median(base),
        "counter_p95": percentile(base, 95),
        "patients_p50": statistics.median(ours),
        "patients_p95": percentile(ours, 95),
    }
    figures["ratio_p50"] = figures["patients_p50"] / figures["counter_p50"]
    figures["ratio_p95"] = figures["patients_p95"] / figures["counter_p95"]
    print(f"event round trip over {len(ours)} clicks each (click → DOM update, in-page timer)")
    for label, key in (("blank counter page", "counter"), ("patients page", "patients")):
        p50, p95 = figures[f"{key}_p50"], figures[f"{key}_p95"]
        print(f"  {label:<19}: p50 {p50:6.1f} ms  p95 {p95:6.1f} ms")
    r50, r95 = figures["ratio_p50"], figures["ratio_p95"]
    print(f"  ratio (ours/blank) : p50 {r50:.2f}  p95 {r95:.2f}  (goal ≤ 1.3)")
    return figures


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp, local_server(Path(tmp)) as srv:
        report(run(srv.url))
    return 0
