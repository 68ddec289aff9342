"""Faithful emulations of vendor APIs, built from their public docs, for the tests."""
