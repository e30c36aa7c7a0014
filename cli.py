"""The hkc command line (placeholder while the library lands)."""
