"""Real-browser tests: headless Chromium driven by playwright against a live server."""
