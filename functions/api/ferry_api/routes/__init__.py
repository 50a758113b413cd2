"""The API's routes, one router per area; each parses, calls the domain and maps the result with a view."""
