"""Object storage (S3, GCS, any fsspec filesystem) as a `Store`: listings, ranged reads."""
