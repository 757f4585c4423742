"""Identity service: accounts, organisations, roles, sessions and erasure."""
