"""Outer layer of lpu-twin: everything that touches gRPC, SQL or the CLI, built on the twin core."""
