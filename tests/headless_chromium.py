"""Debian's Chromium as the browser tests launch it (Playwright, no browser download).

The flags keep a headless Chromium from reaching for the network on its own (component
updates, sync, background fetches), which this machine's closed network refuses.
"""

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
