"""Swagger UI at /docs, in a real headless browser: Authorize, try POST /import with the seed's example, get a 202.

The browser is Debian's chromium driven by Playwright (its own browser download is never
used). The page must work offline: every request it makes goes to the local stack.
"""
from __future__ import annotations

import json
import re
import secrets
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Route, expect, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000


@pytest.fixture
def page(local_stack):
    if not Path(CHROMIUM).exists():
        pytest.skip("needs chromium: apt-get install chromium (Debian's package; .ci/run installs it)")
    foreign: list[str] = []

    def only_the_stack(route: Route) -> None:
        if route.request.url.startswith(local_stack.url + "/"):
            route.continue_()
        else:  # a CDN or anything else outside: the page must not need it
            foreign.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1400})
            context.set_default_timeout(TIMEOUT_MS)
            context.route("**/*", only_the_stack)
            yield context.new_page()
        finally:
            browser.close()
    assert not foreign, f"Swagger UI asked outside the stack: {foreign}"


def test_try_post_import_from_swagger_ui(local_stack, client, page, tmp_path):
    refused: list[str] = []
    page.on("response", lambda response: refused.append(f"{response.status} {response.url}") if response.status >= 400 else None)
    page.goto(f"{local_stack.url}/docs")
    expect(page.locator(".information-container .title")).to_contain_text("Ferry")
    page.wait_for_load_state("networkidle")
    assert refused == [], "the page asked for something the API refuses (a favicon without a key is a 401)"

    # Authorize with the demo key (Bearer), then close the dialog.
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".modal-ux")
    bearer = dialog.locator(".auth-container").filter(has_text="bearer")
    bearer.locator("input").fill(local_stack.keys["tenant-a"])
    bearer.locator("button.authorize").click()
    expect(bearer.get_by_role("heading", name="Authorized")).to_be_visible()
    dialog.locator("button.btn-done").first.click()
    expect(dialog).to_have_count(0)

    # POST /import: try it out with the seed's example and an Idempotency-Key.
    operation = page.locator('.opblock[id$="-createImport"]')
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    body = operation.locator("textarea.body-param__text")
    example = json.loads(body.input_value())
    assert example["dataType"] == "Customers" and example["data"][0]["name"] == "OOO Svetlyachok"
    key = f"swagger-ui-{secrets.token_hex(4)}"
    operation.locator('.parameters input[placeholder="Idempotency-Key"]').fill(key)
    operation.locator("button.execute").click()

    answer = operation.locator(".live-responses-table tbody tr.response")
    expect(answer.locator(".response-col_status")).to_have_text("202")
    shown = answer.locator(".response-col_description .highlight-code")
    expect(shown).to_contain_text('"id"')
    job_id = re.search(r'"id":\s*"(\w+)"', shown.text_content() or "").group(1)
    answer.scroll_into_view_if_needed()
    screenshot = tmp_path / "swagger-ui-import-202.png"
    page.screenshot(path=str(screenshot))
    print(f"screenshot: {screenshot}")

    # The job exists for the key's tenant, ran, and the header reached the API.
    job = client.get(f"/jobs/{job_id}")
    assert job.status == 200, job.body
    assert job.json()["args"] == {"dataType": "Customers", "actionType": "CreateOrUpdate"}
    assert client.wait(job_id)["status"] == "finished"
    again = client.post("/import", example, headers={"Idempotency-Key": key})
    assert (again.status, again.json()) == (202, {"id": job_id})
