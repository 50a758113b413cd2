"""Operators' commands for a Ferry deployment, deployed or local: `python -m ferry_admin --help`."""
