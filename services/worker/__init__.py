"""The worker: owns shards, applies their transactions, commits atomically."""
