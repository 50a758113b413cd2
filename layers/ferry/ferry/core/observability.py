"""The one place logging, tracing and metrics are set up (Powertools; configured by POWERTOOLS_* variables)."""
from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Most requests add no metric (a read, a list); Powertools warns about each of them otherwise.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
