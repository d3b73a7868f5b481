"""Real parts for tests, benchmarks and the demo: brokers and PostgreSQL on free ports, a hub as a child
process, a kiosk link wired to a hub ingest worker, synthetic EU DCCs, generated hub events and the
registry test double.

Its own package (not tests/) because bench/ and demo/ use it too and must not import the tests; not in
the shipped wheel (pyproject.toml), because no kiosk, hub or provisioning machine runs a test double.
"""
