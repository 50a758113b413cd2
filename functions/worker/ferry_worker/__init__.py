"""The worker function: the steps the job state machine calls."""
