"""KV-cache quantizers that run on real tensors: encode, decode, and count stored bits.

`twin.quant.schemes.KvScheme` prices a scheme with a few numbers; the encoders here
produce those numbers from what they actually store, on synthetic or real activations
(`twin.quant.activations`). Each scheme is one module; `ENCODERS` maps a name to a
builder taking the tensor kind ("k" or "v") and optional calibration batches (offline
profiling for Oaken, SmoothAttention factors for QServe keys).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from twin.errors import InvalidSpec, UnknownName
from twin.quant.algos.atom import atom_encoder
from twin.quant.algos.base import (
    Encoded,
    KvEncoder,
    Part,
    Stored,
    check_kind,
    effective_bits,
    mse,
    nmse,
    scheme_terms,
    storage_bits,
)
from twin.quant.algos.kivi import Kivi
from twin.quant.algos.kvquant import KvQuant
from twin.quant.algos.oaken import Oaken, group_shares
from twin.quant.algos.oaken_profile import OakenThresholds, profile_thresholds
from twin.quant.algos.qserve import qserve_encoder
from twin.quant.algos.token_group import int4_per_token, int8_per_token

Calibration = Sequence[np.ndarray] | None
Builder = Callable[[str, Calibration], KvEncoder]


def _oaken(kind: str, calibration: Calibration) -> Oaken:
    if not calibration:
        raise InvalidSpec("calibration", "Oaken needs profiling batches of the same layer and kind")
    return Oaken.profile(calibration)


ENCODERS: dict[str, Builder] = {
    "int8": lambda kind, cal: int8_per_token(),
    "int4_token": lambda kind, cal: int4_per_token(),
    "kivi4": lambda kind, cal: Kivi(kind, bits=4),
    "kivi2": lambda kind, cal: Kivi(kind, bits=2),
    "kvquant4": lambda kind, cal: KvQuant(kind),
    "qserve4": qserve_encoder,
    "atom4": lambda kind, cal: atom_encoder(),
    "oaken": _oaken,
}


def make_encoder(name: str, kind: str, calibration: Calibration = None) -> KvEncoder:
    """The encoder `name` for one layer's keys (kind "k") or values ("v")."""
    if name not in ENCODERS:
        raise UnknownName("KV encoder", name, list(ENCODERS))
    return ENCODERS[name](check_kind(kind), calibration)


# The encoder that implements each registered KV scheme (twin.quant.schemes.KV_SCHEMES).
ENCODER_OF_SCHEME: dict[str, str] = {
    "int8": "int8", "int4": "int4_token", "kivi": "kivi4", "kivi2": "kivi2", "kvquant": "kvquant4",
    "qserve": "qserve4", "atom": "atom4", "oaken": "oaken",
}

__all__ = [
    "ENCODER_OF_SCHEME",
    "ENCODERS",
    "Encoded",
    "KvEncoder",
    "Kivi",
    "KvQuant",
    "Oaken",
    "OakenThresholds",
    "Part",
    "Stored",
    "effective_bits",
    "group_shares",
    "make_encoder",
    "mse",
    "nmse",
    "profile_thresholds",
    "scheme_terms",
    "storage_bits",
]
