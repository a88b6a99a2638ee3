"""The GPU serving stack: which software runs the kernels, a choice of each run (ServingConfig.gpu_stack).

- ``eager``: PyTorch run op by op from Python, as the LPU paper measured the H100 (HuggingFace-style
  generate). Every small kernel of a layer (two norms, two residual adds, the activation, the softmax;
  a gated MLP adds its multiply) pays a CPU launch and sync: the chip's calibrated ``kernel_launch_s``.
- ``optimised``: an engine that captures the step in a CUDA graph and fuses the small kernels (vLLM,
  TensorRT-LLM, gpt-fast): residual add and norm fused twice, the activation fused once, the softmax
  inside the attention kernel, so three small kernels per layer remain, each costing its time on the
  GPU inside the graph (``kernel_launch_s`` of the profile, calibration.yaml ``gpu_stacks``).

Only GPUs change: LPU and NPU chips run their own compiled instruction streams (HyperDex).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from twin.config import ServerSpec
from twin.errors import InvalidSpec


@dataclass(frozen=True)
class GpuStack:
    name: str
    kernel_launch_s: float = 0.0  # what each remaining small kernel of a layer costs; 0 with eager: the chip's own
    fused_kernels: int = 0  # small kernels left per layer after fusion; 0: eager (no fusion)

    def __post_init__(self) -> None:
        if self.kernel_launch_s < 0 or self.fused_kernels < 0:
            raise InvalidSpec("gpu_stack", f"{self.name}: kernel_launch_s and fused_kernels must be >= 0")

    def on(self, server: ServerSpec) -> ServerSpec:
        """`server` as this stack runs it: its GPU chip's small kernels priced by the stack; others unchanged."""
        if server.chip.kind != "gpu" or not self.fused_kernels:
            return server
        chip = replace(server.chip, kernel_launch_s=self.kernel_launch_s, fused_kernels=self.fused_kernels)
        return replace(server, chip=chip)


def stack_from_dict(name: str, data: dict | None) -> GpuStack:
    """A profile of calibration.yaml's ``gpu_stacks``; eager keeps the chips' own calibration."""
    if name == "eager":
        return GpuStack("eager")
    if not isinstance(data, dict):
        raise InvalidSpec("gpu_stack", f"no profile {name!r} in calibration.yaml gpu_stacks")
    return GpuStack(name, float(data["kernel_launch_s"]), int(data["fused_kernels"]))
