"""The sweeper function: ends the jobs whose execution no longer runs (ferry.jobs.sweeper)."""
