"""``make bench``: throughput of the append path, batch ingest and verification (not a test)."""
