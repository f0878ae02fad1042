"""The studio in a real browser (Debian's Chromium driven by Playwright), as a user uses it:
home page and its next product, a slider that changes the photo within its range, a photo
upload that gets projected, similar real products, a phone-sized screen, and the API docs
with no internet."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from PIL import Image
from playwright.sync_api import sync_playwright
from studio_fixture import demo_studio

from fauxshop.catalog.demo_catalog import demo_product
from fauxshop.products.models import UNMEASURED_RANGE
from fauxshop.web.app import create_app

CHROMIUM = next(
    (
        p
        for p in ("/usr/lib/chromium/chromium", shutil.which("chromium") or "")
        if Path(p).is_file()
    ),
    None,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    """The app served by uvicorn on loopback in a thread, for the module's tests."""
    port = free_port()
    config = uvicorn.Config(create_app(demo_studio(tmp_path_factory.mktemp("work"))),
                            host="127.0.0.1", port=port, log_level="warning")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "Debian's chromium is not installed: `make test` installs it"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1000, "height": 800})
    page = context.new_page()
    yield page
    context.close()


def shown_title(page) -> str:
    page.wait_for_function("document.getElementById('status').textContent.includes('seed')")
    return page.text_content("#title")


def test_home_shows_a_product_and_the_next_one(page, base_url):
    page.goto(base_url + "/")
    first = shown_title(page)
    seed = page.get_attribute("#product", "data-seed")
    assert first and first != "…" and page.text_content("#description").strip()
    page.wait_for_function("document.getElementById('nearest').naturalWidth > 0")
    page.click("#next")
    page.wait_for_function(f"document.getElementById('product').dataset.seed !== '{seed}'")
    assert shown_title(page)
    page.wait_for_function("document.getElementById('photo').naturalWidth > 0")


def photo_pixels(page) -> bytes:
    """The photo as shown, once its current source has fully loaded."""
    photo = "document.getElementById('photo')"
    page.wait_for_function(f"{photo}.complete && {photo}.naturalWidth > 0")
    return page.locator("#photo").screenshot()


def test_a_slider_changes_the_photo(page, base_url):
    page.goto(base_url + "/studio")
    page.wait_for_selector("#sliders input")
    page.wait_for_function("document.getElementById('photo').src.startsWith('blob:')")
    before = photo_pixels(page)  # the first render, whenever it landed
    src = page.get_attribute("#photo", "src")
    slider = page.locator("#sliders input").first
    low, high = UNMEASURED_RANGE  # the demo studio's SeFa sliders were never measured
    assert (slider.get_attribute("min"), slider.get_attribute("max")) == (f"{low:g}", f"{high:g}")
    slider.evaluate("(el) => { el.value = 4; el.dispatchEvent(new Event('change')); }")
    page.wait_for_function(f"document.getElementById('photo').src !== '{src}'")
    assert photo_pixels(page) != before


def test_an_uploaded_photo_is_projected_and_similar_products_open(page, base_url, tmp_path):
    photo = tmp_path / "dress.png"
    demo_product(0, 0, 0.0).image.convert("RGB").save(photo)
    page.goto(base_url + "/studio")
    page.wait_for_selector("#sliders input")
    page.set_input_files("#upload", str(photo))
    page.wait_for_function("document.getElementById('status').textContent.includes('PSNR')")
    assert page.text_content("#caption") == "projected photo"
    page.click("#similar")
    page.wait_for_selector("#results figure.similar")
    assert page.locator("#results figure.similar").count() == 6
    page.wait_for_function(
        "[...document.querySelectorAll('#results img')].every(i => i.naturalWidth)"
    )


def test_a_typed_request_shows_photos_tagged_with_its_category(page, base_url):
    """Describe it, see it: the shopper's words in the text box, photos back with the tags the
    tagger sees in them; an unplaceable word is said back; a request of no garment is refused."""
    page.goto(base_url + "/studio")
    page.fill("#design-request", "a plaid dress with pockets")
    page.select_option("#design-method", "reject")
    page.fill("#design-n", "2")
    page.click("#design-go")
    page.wait_for_selector("#design-results figure.design img", timeout=180_000)
    assert page.locator("#design-results figure.design").count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('#design-results img')].every(i => i.naturalWidth)"
    )
    for tags in page.locator("#design-results .tags").all_inner_texts():
        assert "category: dress" in tags
    status = page.text_content("#design-status")
    assert "category: dress, pattern: plaid" in status and "not understood: pockets" in status
    page.fill("#design-request", "something nice")
    page.click("#design-go")
    page.wait_for_function("document.getElementById('design-status').textContent"
                           ".includes('names no category')")  # fmt: skip
    assert page.locator("#design-results figure").count() == 0


def test_api_docs_list_the_endpoints_without_the_internet(page, base_url):
    """Swagger UI comes from the server itself: every request off this server is refused and
    recorded, and the page still lists the API's endpoints."""
    elsewhere = []

    def only_here(route):
        if route.request.url.startswith(base_url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_here)
    page.goto(base_url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    paths = {
        p.strip().replace("\u200b", "")
        for p in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert {"/api/generate", "/api/edit", "/api/project", "/api/similar", "/api/save"} <= paths
    assert elsewhere == []


def test_pages_fit_a_phone_screen(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    for path in ("/", "/studio"):
        page.goto(base_url + path)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width}px)"
    context.close()


def test_screenshot_for_the_docs(page, base_url, tmp_path):
    """Not a check of looks: proves the page renders, and leaves a PNG a person can open."""
    page.goto(base_url + "/")
    shown_title(page)
    page.wait_for_function("document.getElementById('photo').naturalWidth > 0")
    shot = page.screenshot(full_page=True)
    with Image.open(io.BytesIO(shot)) as image:
        assert image.size[0] == 1000 and image.getextrema() != ((255, 255), (255, 255))
