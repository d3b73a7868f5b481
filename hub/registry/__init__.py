"""The national registry: the hub's HTTP client for it and the forwarder that feeds it.

Its test double (the contract of docs/registry-api.md, with faults on demand) is testkit/registry_server.py:
tests and the demo run it; no hub ships it.
"""
