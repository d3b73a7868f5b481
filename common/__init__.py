"""Code that the kiosk, the hub and the provisioning tools share (no imports of any of them)."""
