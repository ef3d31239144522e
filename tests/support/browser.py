"""Headless Chromium driven by Selenium, for the dashboard's real-browser tests: Debian's `chromium`
and `chromium-driver` (.ci/run installs them). When one is missing the test is skipped, or fails on
CI (support.ci.fail_or_skip)."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from support.ci import fail_or_skip

BINARIES = ("chromium", "chromium-browser")
DRIVERS = ("chromedriver",)
DRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
# Chromium's own background traffic (updates, sync, safe browsing) off: the page's origin is the
# only host a test browser talks to.
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints", "--lang=en-US",
         "--force-color-profile=srgb", "--hide-scrollbars")


def find_chromium() -> tuple[str, str] | str:
    """(browser, driver) paths, or why they cannot be used."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    binary = next((p for p in map(shutil.which, BINARIES) if p), None)
    if binary is None:
        return "chromium is not installed (apt-get install chromium chromium-driver)"
    driver = next((p for p in map(shutil.which, DRIVERS) if p), None) or next(
        (p for p in DRIVER_PATHS if Path(p).is_file()), None)
    if driver is None:
        return "chromedriver is not installed (apt-get install chromium-driver)"
    return binary, driver


def need_chromium() -> tuple[str, str]:
    found = find_chromium()
    if isinstance(found, str):
        fail_or_skip(found)
    assert not isinstance(found, str)
    return found


@contextlib.contextmanager
def chrome(width: int = 1280, height: int = 900) -> Iterator[Any]:
    """A headless Chromium WebDriver (skipped, or failed on CI, when it is missing)."""
    binary, driver_path = need_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="dtsctl-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--window-size={width},{height}")
        options.add_argument(f"--user-data-dir={profile}")
        # An alert left open must not be dismissed silently: the XSS check looks for one.
        options.set_capability("unhandledPromptBehavior", "ignore")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(driver_path, log_output=subprocess.DEVNULL), options=options)
        try:
            driver.set_window_size(width, height)
            yield driver
        finally:
            driver.quit()


def wait_for(driver: Any, check: Callable[[], Any], timeout: float = 10.0, what: str = "the page") -> Any:
    """Poll `check()` (exceptions from a DOM being redrawn count as not yet) until it is truthy."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    last: list[Any] = [None]

    def probe(_d: Any) -> Any:
        try:
            last[0] = check()
        except (NoSuchElementException, StaleElementReferenceException):
            return False
        return last[0]

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(probe)
    except Exception as exc:
        body = driver.find_element("tag name", "body").text[:2000]
        raise AssertionError(f"{what} did not appear within {timeout}s; last value {last[0]!r}; "
                             f"the page shows:\n{body}") from exc


def text(driver: Any, css: str) -> str:
    return driver.find_element("css selector", css).text


def wait_text(driver: Any, css: str, pattern: str, timeout: float = 10.0) -> str:
    """Wait until the element at `css` shows text matching `pattern` (a regex); returns the text."""
    rx = re.compile(pattern, re.S)

    def check() -> str | None:
        shown = text(driver, css)
        return shown if rx.search(shown) else None

    return wait_for(driver, check, timeout, what=f"{pattern!r} in {css}")


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors, but a missing favicon."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" and "favicon.ico" not in e.get("message", "")]
