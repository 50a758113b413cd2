"""The API function's entry point (template.yaml's `Handler`): the app, imported as `collector.loading` says."""
from ferry.core import collector

with collector.loading():
    from ferry_api.app import lambda_handler

__all__ = ["lambda_handler"]
