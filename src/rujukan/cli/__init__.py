"""The ``rujukan`` command: one entry point that composes the shared package and the services."""
