"""The one place logging, tracing and metrics are set up (Powertools; configured by POWERTOOLS_* variables)."""
from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()
