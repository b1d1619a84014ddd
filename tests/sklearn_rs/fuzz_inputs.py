"""Hypothesis strategies shared by the fuzz tests: sample matrices of every dtype scikit-learn
meets (float16/32/64, signed and unsigned integers, bool), with or without special values."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

FLOAT_DTYPES = [np.float16, np.float32, np.float64]
INT_DTYPES = [np.int8, np.int32, np.int64, np.uint8]
ANY_DTYPES = FLOAT_DTYPES + INT_DTYPES + [np.bool_]
# NaN, infinities, huge, tiny and subnormal values, signed zeros, float32/float16 limits.
SPECIAL = [np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 5e-324, 0.0, -0.0, 3e38, 1e19,
           65504.0, 1e-45]


def float_elements(with_special):
    plain = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
    if not with_special:
        return plain
    return st.one_of(plain, plain, st.sampled_from(SPECIAL))


@st.composite
def matrices(draw, shape, dtype):
    """A `shape` array of `dtype`: the full range of an integer type, or floats in [-100, 100]
    mixed (half the time) with special values, cast from float64."""
    if dtype is np.bool_:
        return draw(arrays(np.bool_, shape))
    if dtype in INT_DTYPES:
        info = np.iinfo(dtype)
        return draw(arrays(dtype, shape, elements=st.integers(int(info.min), int(info.max))))
    X64 = draw(arrays(np.float64, shape, elements=float_elements(draw(st.booleans()))))
    with np.errstate(all="ignore"):
        return X64.astype(dtype)
