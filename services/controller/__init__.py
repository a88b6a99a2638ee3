"""The Controller service: traces in, replays and sweeps out to cluster replicas, records to the store."""
