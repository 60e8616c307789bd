"""Admin for training: no models yet (training runs will be registered here)."""
