"""The national registry: the hub's HTTP client for it (forwarder) and a test double (server)."""
