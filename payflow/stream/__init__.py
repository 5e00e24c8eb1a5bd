"""Live updates: per-user history in Redis Streams, fan-out through Redis pub/sub, SSE to browsers."""
