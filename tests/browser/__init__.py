"""End-to-end tests in Debian Chromium through Playwright."""
