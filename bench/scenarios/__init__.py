"""Seeded test and benchmark scenarios built from the development corpus."""
