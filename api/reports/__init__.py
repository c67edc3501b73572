"""Report files written by the data platform: listed and downloaded from the warehouse (read-only)."""
