"""Gateway: the one HTTP entry point for frontends, routing /api/<service>/... to the services."""
