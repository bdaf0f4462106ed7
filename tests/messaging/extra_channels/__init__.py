"""A channel package a test adds: one module is the whole channel."""
