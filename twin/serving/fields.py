"""Every serving option, defined once: name, type, choices, unit, help, CLI flag and whether a sweep may vary it.

The table is the one place an option is spelled. From it come ServingConfig's validation of choices
(twin.config), the CLI's options and how their values reach ServingConfig (services.cli_options), the
gRPC conversion both ways (services.common.convert) and the fields a sweep accepts as axes
(twin.explore.sweep). Adding an option is a field on ServingConfig, a row here and a proto field.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    name: str  # ServingConfig's attribute, the proto's field, the sweep axis
    kind: type  # int, float or str: what a CLI or sweep value is parsed as
    help: str
    unit: str = ""  # what a number counts ("tokens", "GB", "fraction"); empty for names and choices
    choices: tuple[str, ...] = ()  # the allowed words, where the field is one of a few
    flag: str = ""  # the CLI flag when it is not --name-with-dashes; "-" for none (set another way)
    sweepable: bool = True
    optional: bool = False  # None is a value (unset)
    minimum: int | None = None  # the smallest value a CLI accepts (checked again by ServingConfig)
    architecture: bool = False  # a serving architecture's option: a policy file's `serving:` section may set it

    @property
    def cli_flag(self) -> str | None:
        if self.flag == "-":
            return None
        return self.flag or "--" + self.name.replace("_", "-")


FIELDS: tuple[Field, ...] = (
    Field("max_batch", int, "Batch cap per replica.", unit="sequences"),
    Field("policy", str, "Prefill/decode mixing: pause decodes for prefills, drain the batch first, or chunked "
                         "prefill.", choices=("prefill-first", "decode-first", "chunked"), flag="--scheduler"),
    Field("chunk_tokens", int, "Token budget per chunked step.", unit="tokens"),
    Field("block_tokens", int, "KV page size.", unit="tokens", flag="-"),
    Field("preemption", str, "What a preempted request loses: its KV (recompute) or a trip to host memory (swap).",
          choices=("recompute", "swap")),
    Field("router", str, "Request routing [default: round-robin; least-tokens for the prefill pool of --pd].",
          choices=("round-robin", "least-tokens", "prefix-affinity"), architecture=True),
    Field("fidelity", str, "Step (closed-form decode runs) or layer (every layer, contended resources).",
          choices=("step", "layer")),
    Field("sample_every_s", float, "Time-series sampling period.", unit="simulated seconds", flag="-"),
    Field("seed", int, "Seed for anything random.", sweepable=False),
    Field("pd", str, "Disaggregate: P prefill and D decode replicas, e.g. 1:1.", optional=True, architecture=True),
    Field("prefill_server", str, "Server type of the prefill pool (with --pd).", optional=True, architecture=True),
    Field("prefill_router", str, "Routing to the prefill pool.", choices=("round-robin", "least-tokens",
                                                                           "prefix-affinity"), flag="-", architecture=True),
    Field("decode_router", str, "Routing to the decode pool (--pd).", choices=("round-robin", "least-tokens"), architecture=True),
    Field("prefix_cache", str, "Keep prompt-prefix KV blocks per replica and reuse them.", choices=("none", "lru"), architecture=True),
    Field("prefix_cache_share", float, "Share of a replica's KV memory for the prefix cache.", unit="fraction", architecture=True),
    Field("prefix_cache_gb", float, "Prefix-cache capacity per replica in GB instead of a share (inf: unbounded).",
          unit="GB", optional=True, architecture=True),
    Field("prefix_cache_host_gb", float, "GB of host memory per replica for a second prefix-cache tier (over PCIe).",
          unit="GB", flag="--prefix-cache-host", architecture=True),
    Field("speculative", int, "Draft tokens per step (0: off).", unit="tokens", architecture=True),
    Field("acceptance", float, "Per-token draft acceptance probability.", unit="fraction", architecture=True),
    Field("acceptance_dist", str, "a,b: per-request acceptance drawn from Beta(a, b).", optional=True,
          sweepable=False, architecture=True),
    Field("draft_model", str, "Draft model from the catalogue (same chips).", optional=True, architecture=True),
    Field("draft_skip", float, "Self-speculative draft: share of the target's layers skipped.", unit="fraction",
          optional=True, architecture=True),
    Field("moe_routing", str, "How MoE tokens pick experts: uniform, skewed (Zipf, see --moe-zipf), or "
                              "active-only (only top-k experts stream, as if dense).",
          choices=("uniform", "skewed", "active-only")),
    Field("moe_zipf_s", float, "Zipf exponent of expert popularity for --moe-routing skewed.", flag="--moe-zipf"),
    Field("max_context", int, "Longest request (input + output tokens) to serve [default: the model's context]; "
                              "past the model's trained context a warning is printed.", unit="tokens",
          optional=True, minimum=2),
    Field("on_long_request", str, "A request longer than the context: reject it, or clamp it (output first); "
                                  "both counted.", choices=("reject", "clamp")),
    Field("micro_batches", int, "Micro-batches a pipeline (--pp) splits each step into [default: one per stage].",
          unit="micro-batches", optional=True, minimum=1),
    Field("prefill_tp", int, "The prefill pool's tensor parallelism [default: all --prefill-server's chips, or --tp].",
          unit="chips", optional=True, minimum=1, architecture=True),
    Field("prefill_pp", int, "The prefill pool's pipeline stages [default: 1 on --prefill-server, or --pp].",
          unit="stages", optional=True, minimum=1, architecture=True),
    Field("prefill_ep", int, "The prefill pool's expert parallelism: 1 or its tp [default: 1, or --ep at --tp].",
          unit="chips", optional=True, minimum=1, architecture=True),
    Field("expert_placement", str, "Which chip holds which expert under --ep: expert i on chip i mod ep, or the "
                                   "most popular experts spread first.", choices=("round-robin", "by-popularity")),
    Field("gpu_stack", str, "GPU serving software: eager PyTorch (as the LPU paper measured the H100) or an optimised "
                            "engine (CUDA graphs, fused kernels, as vLLM or TensorRT-LLM); no effect on other chips.",
          choices=("eager", "optimised")),
)

BY_NAME = {f.name: f for f in FIELDS}
SWEEPABLE = {f.name: f.kind for f in FIELDS if f.sweepable}
CHOICES = {f.name: f.choices for f in FIELDS if f.choices}
ARCHITECTURE = tuple(f.name for f in FIELDS if f.architecture)
