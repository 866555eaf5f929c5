"""The API's routes, one module per resource; each route parses, checks access, calls a use case."""
