"""The HTTP API's Lambda authorizer: API keys to tenants (ferry.tenants.api_keys)."""
