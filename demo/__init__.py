"""The whole system on one machine: Mosquitto, the hub, the registry and three kiosks (`scripts/demo`)."""
