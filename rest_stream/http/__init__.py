"""Requests: one HTTP session per options (auth, TLS, retries, redirects, rate limits),
request templates, and pages fetched and parsed."""
