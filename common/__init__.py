"""Code shared by the kiosk, the hub and the provisioning tools (no dependency on any of them)."""
