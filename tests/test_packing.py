"""The simulation harness's binary input: numpy's packing into 32-bit words equals the beat integers'."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hw_bnn.rtl.packing import ints_to_words, pack_beats, pack_words


@given(width=st.integers(1, 62), elems=st.integers(1, 40), beats=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_words_hold_the_beat_integers(width, elems, beats, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(-(1 << (width - 1)), 1 << (width - 1), size=(beats, elems), dtype=np.int64, endpoint=False) \
        if width > 1 else rng.integers(0, 2, size=(beats, elems))
    words = pack_words(values, width)
    assert words.dtype == np.dtype("<u4") and words.shape == (beats, max(1, -(-(elems * width) // 32)))
    from_ints = ints_to_words(pack_beats(values, width))
    padded = np.zeros_like(words)
    padded[:, :from_ints.shape[1]] = from_ints
    assert np.array_equal(words, padded)
    assert [sum(int(w) << (32 * j) for j, w in enumerate(row)) for row in words] == pack_beats(values, width)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="beats x elements"):
        pack_words(np.zeros(4), 8)
    with pytest.raises(ValueError, match="outside 1..62"):
        pack_words(np.zeros((2, 2)), 64)
    with pytest.raises(ValueError, match="non-negative"):
        ints_to_words([3, -1])
