"""The web pages: server-rendered HTML (Jinja2 and HTMX, no build step) over the same use cases as the API."""
