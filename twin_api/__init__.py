"""Generated gRPC code of the twin's services (protos/generate.sh); do not edit."""
