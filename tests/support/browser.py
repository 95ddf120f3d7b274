"""Headless Chromium for the page tests, one launch for all of them.

Each browser gets its own profile folder (``--user-data-dir`` under the test's tmp path): without one, every run
left a ``/tmp/org.chromium.Chromium.*`` singleton folder behind after ``quit()``."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = next((Path(p) for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
_driver = Path("/usr/bin/chromedriver")
CHROMEDRIVER = _driver if _driver.exists() else (Path(w) if (w := shutil.which("chromedriver")) else None)

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage")


@contextmanager
def headless_chromium(profile_dir: Path, *, window_size: str = "1400,1000",
                      page_load_timeout: float = 60) -> Iterator:
    """A selenium Chrome driver on headless Chromium with its profile in ``profile_dir``; quit on exit.
    Skips the test when Chromium, chromedriver or selenium is not installed (``make test`` installs them)."""
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("headless Chromium or chromedriver not installed "
                    "(apt-get install chromium chromium-driver, done by `make browser`)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*FLAGS, f"--window-size={window_size}", f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(page_load_timeout)
        yield driver
    finally:
        driver.quit()
