"""Serving an app in development: the ASGI app and its middleware, watching, rebuilding,
reloading."""
