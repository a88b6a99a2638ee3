"""Atom-style KV4 (Zhao et al., "Atom: Low-bit Quantization for Efficient and Accurate
LLM Serving", MLSys'24): asymmetric 4-bit per token in groups of 128 channels.

Atom quantizes K and V alike after the projection, one FP16 scale and zero per group,
so the cost is 4 + 32/128 = 4.25 bits per element for any head layout. The Oaken
artifact reports 4.25 / 4.25 / 4.63 for Llama2-7B/13B/70B; its 4.63 for 70B is not
derivable from group-128 storage, so this encoder reproduces 4.25 for all three.
"""

from __future__ import annotations

from twin.quant.algos.token_group import TokenGroupEncoder

ATOM_GROUP = 128  # one Llama head (head_dim 128), Atom's KV group


def atom_encoder(bits: int = 4, group: int = ATOM_GROUP) -> TokenGroupEncoder:
    return TokenGroupEncoder(f"atom{bits}", bits=bits, group=group)
