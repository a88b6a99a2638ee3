"""The GPU serving stack: which software runs the kernels, a choice of each run (ServingConfig.gpu_stack).

- ``eager``: PyTorch run op by op from Python, as the LPU paper measured the H100 (HuggingFace-style
  generate). Every small kernel of a layer (two norms, two residual adds, the activation, the softmax;
  a gated MLP adds its multiply) pays a CPU launch and sync: the chip's calibrated ``kernel_launch_s``.
  Its weight streams run at the chip's calibrated share of peak bandwidth.
- ``optimised``: an engine that captures the step in a CUDA graph and fuses the small kernels (vLLM,
  TensorRT-LLM, gpt-fast): residual add and norm fused twice, the activation fused once, the softmax
  inside the attention kernel, so three small kernels per layer remain, each costing its time on the
  GPU inside the graph (``kernel_launch_s`` of the profile, calibration.yaml ``gpu_stacks``). Its GEMV
  kernels stream weights faster on HBM3 (``stream_factor`` by memory kind, times the chip's share: on the
  H100, 0.90 of peak in Vidur's profiles against the 0.79 the LPU paper's eager stack reached; the
  A100's HBM2e measures 0.80, within a point of its 0.79: no factor). KV and activations keep the chip's
  share: the decode attention kernel's paged reads were fitted at it.

Only GPUs change: LPU and NPU chips run their own compiled instruction streams (HyperDex).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from twin.config import ChipSpec, ServerSpec
from twin.errors import InvalidSpec


@dataclass(frozen=True)
class GpuStack:
    name: str
    kernel_launch_s: float = 0.0  # what each remaining small kernel of a layer costs; 0 with eager: the chip's own
    fused_kernels: int = 0  # small kernels left per layer after fusion; 0: eager (no fusion)
    # (memory kind, factor): this stack's kernels stream a GPU's weights at factor x its memory's sustained share
    stream_factor: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if self.kernel_launch_s < 0 or self.fused_kernels < 0:
            raise InvalidSpec("gpu_stack", f"{self.name}: kernel_launch_s and fused_kernels must be >= 0")
        if any(f <= 0 for _, f in self.stream_factor):
            raise InvalidSpec("gpu_stack", f"{self.name}: every stream_factor must be > 0")

    def on(self, server: ServerSpec) -> ServerSpec:
        """`server` as this stack runs it: its GPU chip's small kernels and weight streams priced by the stack;
        others unchanged."""
        chip = self.on_chip(server.chip)
        return server if chip is server.chip else replace(server, chip=chip)

    def on_chip(self, chip: ChipSpec) -> ChipSpec:
        if chip.kind != "gpu":
            return chip
        factor = dict(self.stream_factor).get(chip.memory.kind, 1.0)
        if factor != 1.0:
            chip = replace(chip, weight_stream_factor=factor)
        if self.fused_kernels:
            chip = replace(chip, kernel_launch_s=self.kernel_launch_s, fused_kernels=self.fused_kernels)
        return chip


def stack_from_dict(name: str, data: dict | None) -> GpuStack:
    """A profile of calibration.yaml's ``gpu_stacks``; eager keeps the chips' own launch calibration."""
    factors = tuple(sorted((str(k), float(v)) for k, v in ((data or {}).get("stream_factor") or {}).items()))
    if name == "eager":
        return GpuStack("eager", stream_factor=factors)
    if not isinstance(data, dict):
        raise InvalidSpec("gpu_stack", f"no profile {name!r} in calibration.yaml gpu_stacks")
    return GpuStack(name, float(data["kernel_launch_s"]), int(data["fused_kernels"]), factors)
