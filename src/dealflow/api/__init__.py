"""The REST API under ``/api/v1``: FastAPI routes over the same use cases as the command line."""
