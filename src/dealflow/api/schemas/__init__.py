"""The API's request and response bodies, kept apart from the core's classes."""
