"""The storage record: declared widths must hold the data, and bits add up by part."""

from __future__ import annotations

import numpy as np
import pytest

from twin.errors import InvalidSpec
from twin.quant.algos import Encoded, Part, Stored, effective_bits, storage_bits


def test_codes_must_fit_their_width():
    Stored(np.array([0, 15], np.uint8), 4, Part.DENSE)
    with pytest.raises(InvalidSpec):
        Stored(np.array([16], np.uint8), 4, Part.DENSE)
    with pytest.raises(InvalidSpec):
        Stored(np.zeros(2, np.float16), 8, Part.META)  # FP16 takes 16 bits
    with pytest.raises(InvalidSpec):
        Stored(np.zeros(2, np.uint8), 9, Part.DENSE)


def test_storage_bits_sum_every_part():
    enc = Encoded("demo", (2, 8), {
        "codes": Stored(np.zeros((2, 8), np.uint8), 4, Part.DENSE),
        "entries": Stored(np.zeros(3, np.uint8), 8, Part.SPARSE),
        "scale": Stored(np.zeros(2, np.float16), 16, Part.META),
        "table": Stored(np.zeros(4, np.float16), 16, Part.TABLE),
    })
    assert storage_bits(enc) == 64 + 24 + 32 + 64
    assert effective_bits(enc) == 184 / 16
    assert enc.n_entries == 3


def test_sparse_arrays_must_agree_on_entry_count():
    enc = Encoded("demo", (1, 4), {
        "a": Stored(np.zeros(3, np.uint8), 8, Part.SPARSE),
        "b": Stored(np.zeros(2, np.uint8), 8, Part.SPARSE),
    })
    with pytest.raises(InvalidSpec):
        _ = enc.n_entries
