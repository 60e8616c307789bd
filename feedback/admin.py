"""Admin for feedback: no models yet (prompts, generations and ratings will be registered here)."""
