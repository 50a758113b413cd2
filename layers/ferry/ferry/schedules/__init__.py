"""Scheduled CSV exports (seed 003): profiles, one configuration per data area, nightly runs, history."""
