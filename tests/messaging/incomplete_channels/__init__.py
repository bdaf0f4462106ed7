"""A channel package with a deliberately incomplete channel (the start-up check must refuse it)."""
