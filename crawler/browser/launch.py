"""Find a Chromium, start it headless with a throw-away profile, and always stop it.

Playwright is an optional extra (`pip install 'imageset[browser]'`), so it is imported
only here and only when a browser is wanted; without it, or without any Chromium, the
user gets one line saying what to install.

Chromium sends every request through the address guard's proxy (`proxy.GuardProxy`),
started and stopped with it; `guard_proxy(context)` finds it to say what it may reach.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BrowserLaunchError, BrowserMissingError
from .proxy import GuardProxy

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

# Looked up on PATH, in this order, when --browser is not given.
SYSTEM_BROWSERS = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)
# Where macOS and Windows install Chromium-based browsers, off PATH (tried after it).
INSTALLED_BROWSERS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "%PROGRAMFILES%/Google/Chrome/Application/chrome.exe",
    "%PROGRAMFILES(X86)%/Google/Chrome/Application/chrome.exe",
    "%LOCALAPPDATA%/Google/Chrome/Application/chrome.exe",
    "%PROGRAMFILES(X86)%/Microsoft/Edge/Application/msedge.exe",
)

# A fresh profile is not enough on a closed network: without these, Chromium keeps opening
# background connections (updates, sync, field trials) that fail or leak the crawl.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

PROFILE_PREFIX = "imageset-browser-"
# Chromium never proxies loopback addresses unless told to: `<-loopback>` sends them through
# the guard too (a page on an allowed 127.0.0.1 must not reach 127.0.0.2).
PROXY_BYPASS = "<-loopback>"

_PROXIES: dict[int, GuardProxy] = {}  # id(context) -> its proxy, while the context is open


def guard_proxy(context) -> GuardProxy | None:
    """The address guard's proxy of a context from `open_browser`, else None."""
    return _PROXIES.get(id(context))


INSTALL_HINT = "apt-get install chromium, or playwright install chromium"


def _import_playwright():  # the module, which is optional
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise BrowserMissingError(
            "--engine google-browser needs Playwright: pip install 'imageset[browser]' "
            f"(and a Chromium: {INSTALL_HINT})"
        ) from None
    return sync_playwright


def find_browser(browser_path: str | Path | None = None) -> str | None:
    """The Chromium to start: `browser_path`, else one on PATH, else None (Playwright's own).

    Raises:
        BrowserMissingError: `browser_path` is not an executable file.
    """
    if browser_path is not None:
        path = shutil.which(str(browser_path))
        if path is None or not Path(path).is_file():
            raise BrowserMissingError(f"--browser {browser_path}: no such executable file")
        return path
    for name in SYSTEM_BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    for known in INSTALLED_BROWSERS:
        installed = Path(os.path.expandvars(known))
        if "%" not in str(installed) and installed.is_file():
            return str(installed)
    return None


def _bundled_browser(playwright) -> str:
    """The Chromium that `playwright install chromium` put in place, if it did."""
    path = playwright.chromium.executable_path
    if not Path(path).is_file():
        raise BrowserMissingError(
            f"no Chromium found for --engine google-browser: {INSTALL_HINT}, or pass --browser PATH"
        )
    return path


@contextmanager
def open_browser(
    browser_path: str | Path | None = None, *, headless: bool = True
) -> Iterator[BrowserContext]:
    """A headless Chromium context with a fresh profile, closed (and its processes gone) on exit.

    Args:
        browser_path: the Chromium executable; default: one on PATH, else Playwright's.
        headless: False shows the window (for debugging a consent or captcha page by hand).

    Raises:
        BrowserMissingError: Playwright or Chromium is not installed.
        BrowserLaunchError: Chromium would not start.
    """
    sync_playwright = _import_playwright()
    executable = find_browser(browser_path)
    from playwright.sync_api import Error as PlaywrightError

    with tempfile.TemporaryDirectory(prefix=PROFILE_PREFIX) as profile, GuardProxy() as proxy:
        try:
            with sync_playwright() as playwright:
                executable = executable or _bundled_browser(playwright)
                try:
                    context = playwright.chromium.launch_persistent_context(
                        profile,
                        executable_path=executable,
                        headless=headless,
                        args=CHROMIUM_ARGS,
                        # A service worker's requests bypass the address guard's routing.
                        service_workers="block",
                        proxy={"server": f"http://127.0.0.1:{proxy.port}", "bypass": PROXY_BYPASS},
                    )
                except PlaywrightError as exc:
                    first = (
                        str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    )
                    raise BrowserLaunchError(f"cannot start {executable}: {first}") from None
                _PROXIES[id(context)] = proxy
                try:
                    yield context
                finally:
                    _PROXIES.pop(id(context), None)
                    # After Ctrl-C the driver may already be gone; closing then fails, and
                    # the sweep below still ends the browser.
                    with suppress(Exception):
                        context.close()
        finally:
            kill_profile_processes(profile)


def profile_processes(profile: str) -> list[int]:
    """Ids of the processes whose command line names `profile` (Linux /proc; [] elsewhere)."""
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    marker = profile.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with suppress(OSError):
            if marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


def kill_profile_processes(profile: str) -> list[int]:
    """Kill what is left of the browser started with `profile` (its own unique folder)."""
    pids = profile_processes(profile)
    for pid in pids:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return pids
