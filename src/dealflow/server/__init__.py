"""What the REST API and the web pages share: the workspace and who is asking (dependencies),
errors as responses, reading a posted form, and the app that serves both (``create_app``)."""
