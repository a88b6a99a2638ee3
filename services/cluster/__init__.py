"""The ClusterTwin service: live twins, each one SimPy environment behind a lock."""
