"""Ferry's domain: jobs, data types, imports and the ports they talk through."""
