"""This function's adapters: settings checked at cold start, AWS clients made on first use (a light import)."""
from __future__ import annotations

import os

from ferry.core.settings import Settings
from ferry.wiring import Runtime

runtime = Runtime(Settings.from_env(os.environ))
