"""The one place logging and metrics are set up (Powertools; configured by POWERTOOLS_* variables).

Traces are Lambda's own active tracing (the template's `Tracing: Active`): each
invocation's segment, with its init and duration. There is no Powertools Tracer: it
imports the X-Ray SDK (~90 ms of the API's cold start, even with tracing off) and the
SDK brings a second botocore into the layer next to the runtime's own.
"""
from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# Most requests add no metric (a read, a list); Powertools warns about each of them otherwise.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
