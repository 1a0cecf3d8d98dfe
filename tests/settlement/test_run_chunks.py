"""How a batch run cuts its members into chunks (``services._equal_slices``): consecutive,
equal to within one member, never above the size limit, and as many as a multiple of the
worker's processes so they finish together."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from settlement.services import _equal_slices


@pytest.mark.parametrize(
    "n, most, processes, sizes",
    [
        (0, 2000, 2, []),
        (1, 2000, 2, [1]),  # fewer members than processes: one each at most
        (3, 2000, 2, [2, 1]),
        (4000, 2000, 2, [2000, 2000]),
        (4001, 2000, 2, [1001, 1000, 1000, 1000]),
        (25387, 2000, 2, [1814] * 5 + [1813] * 9),  # the benchmark's year: 14 chunks, not 13
        (25387, 5000, 2, [4232] + [4231] * 5),  # simulation chunks: 6
        (10, 3, 1, [3, 3, 2, 2]),
    ],
)
def test_table(n, most, processes, sizes):
    assert [len(s) for s in _equal_slices(list(range(n)), most, processes)] == sizes


@given(n=st.integers(0, 5000), most=st.integers(1, 700), processes=st.integers(1, 8))
def test_properties(n, most, processes):
    ids = list(range(100, 100 + n))
    slices = _equal_slices(ids, most, processes)
    assert [i for s in slices for i in s] == ids  # consecutive, nothing lost
    assert all(0 < len(s) <= most for s in slices)
    assert not slices or max(map(len, slices)) - min(map(len, slices)) <= 1
    needed = -(-n // most)
    assert len(slices) == min(-(-needed // processes) * processes, n)
