"""Plumbing shared by the gRPC services: servers, channels, interceptors, proto conversions."""
