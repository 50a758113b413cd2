"""The steps of the state machines, one module per family; each maps a step name to its function."""
