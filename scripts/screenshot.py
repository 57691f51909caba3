"""Refresh docs/screenshot.png from a running `touchline serve` with the demo data (login demo / demo).

    .venv/bin/touchline serve &  .venv/bin/python scripts/screenshot.py [http://127.0.0.1:8000] [/path/]
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
PAGE = sys.argv[2] if len(sys.argv) > 2 else "/reports/deals_by_stage/"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshot.png"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
    page = browser.new_page(base_url=BASE, viewport={"width": 1280, "height": 860})
    page.goto("/login/")
    page.get_by_label("Username").fill("demo")
    page.get_by_label("Password").fill("demo")
    page.get_by_role("button", name="Log in").click()
    page.goto(PAGE)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT))
    browser.close()
print(f"wrote {OUT}")
