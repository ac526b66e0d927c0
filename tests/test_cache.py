"""The byte-bounded array cache (matcher.cache) that holds resampling and PDQ filter weights."""

import threading

import numpy as np

from matcher import pdq, resample
from matcher.cache import array_cache, nbytes


def test_results_are_reused_and_evicted_least_recently_used_first_by_bytes():
    calls = []

    @array_cache(max_bytes=3 * 800)
    def weights(n):
        calls.append(n)
        return np.zeros(100, np.float64) + n, n  # 800 bytes of array, and an int

    first = weights(1)
    assert weights(1) is first and calls == [1]
    weights(2), weights(3)
    weights(1)  # 1 is now the most recently used
    weights(4)  # over 2,400 bytes: 2 goes
    assert weights.cache_bytes() == 2400
    weights(1), weights(3), weights(4)
    assert calls == [1, 2, 3, 4]
    weights(2)
    assert calls == [1, 2, 3, 4, 2]


def test_a_result_larger_than_the_bound_is_returned_but_never_kept():
    @array_cache(max_bytes=1000)
    def big(n):
        return np.ones(n, np.uint8)

    assert len(big(5000)) == 5000 and big.cache_bytes() == 0
    assert nbytes((np.ones(3, np.uint8), [np.ones(2, np.uint16)], 7)) == 7


def test_concurrent_callers_agree_and_the_bound_holds():
    @array_cache(max_bytes=10 * 80)
    def row(n):
        return np.arange(10, dtype=np.int64) * n

    failures = []

    def work(seed):
        rng = np.random.default_rng(seed)
        for n in rng.integers(0, 40, 500):
            if not np.array_equal(row(int(n)), np.arange(10) * n):
                failures.append(n)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and row.cache_bytes() <= 800


def test_the_weight_caches_are_bounded_by_bytes():
    # A stream of distinct large sizes: weights of a 20,000-pixel side are ~5 MB each.
    for size in range(20_000, 20_040):
        resample.coefficients(size, 32)
    assert resample.coefficients.cache_bytes() <= resample.COEFFICIENT_BYTES
    for size in range(9_000, 9_040):
        pdq._tent(size)
    assert pdq._tent.cache_bytes() <= pdq.TENT_BYTES
