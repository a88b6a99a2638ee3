"""Outer layer of lpu-twin: everything that touches gRPC, SQL or the CLI around the twin core."""

import os

# gRPC's fork support restarts its poller in every forked child; since grpcio 1.81 that child can abort
# on a closed epoll descriptor before it execs (grpc/grpc#43055: subprocess.Popen, and our forked store
# writer and sweep workers). No child of ours uses gRPC across a fork, so it stays off unless asked for.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
