"""Adapters that run audio3a inside other media frameworks (optional extras)."""
