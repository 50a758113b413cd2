"""Where a job's attachment comes from when the request only says where to find it."""
