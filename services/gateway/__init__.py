"""Gateway: the one HTTP entry point for frontends (routing arrives with the walking skeleton)."""
