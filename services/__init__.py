"""Outer layer of lpu-twin: everything that touches gRPC, SQL or the CLI around the twin core."""
