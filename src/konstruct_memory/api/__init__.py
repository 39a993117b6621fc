"""The HTTP face: the ``/v1`` routes, their admission, errors, limits and metrics.
``serving.create_app`` assembles them with ``/mcp`` and the inspector into the served app."""
