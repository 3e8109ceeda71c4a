"""Code-bearing records sealed under per-session keys (AES-256-GCM), and those keys in Redis."""
