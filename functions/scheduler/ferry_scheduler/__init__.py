"""The scheduler function: seed 003's nightly exports (an hourly tick) and what their end changes (a Job Ended subscriber)."""
