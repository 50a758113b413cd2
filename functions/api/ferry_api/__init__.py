"""The api function: Ferry's HTTP contract (docs/api.md)."""
