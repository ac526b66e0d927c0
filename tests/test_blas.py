"""matcher's products run on one BLAS thread even when the caller has not pinned BLAS (matcher.blas),
and the caller's setting is back once the calls return, from one thread or several."""

import threading

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

from matcher import blas, pdq, resample


def _blas_libs():
    return [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]


def _release(lib):
    clear = getattr(type(lib), "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


@pytest.fixture
def blas_at_two():
    """BLAS at two threads, as numpy leaves it on a 2-core machine, with no thread holding
    threadpoolctl's control: what a program that imports matcher and pins nothing looks like."""
    libs = _blas_libs()
    if not libs:
        pytest.skip("no BLAS library that threadpoolctl can control")
    before = [lib.get_num_threads() for lib in libs]
    for lib in libs:
        lib.set_num_threads(2)
        _release(lib)
    if any(lib.get_num_threads() != 2 for lib in libs):
        pytest.skip("this BLAS cannot be set to two threads")
    yield libs
    for lib, n in zip(libs, before, strict=True):
        lib.set_num_threads(n)
        _release(lib)


def _threads_now(libs):
    return max(lib.get_num_threads() for lib in libs)


def _photo(height=1000, width=1000):
    rng = np.random.default_rng(7)
    grid = rng.integers(0, 256, (height // 50, width // 50, 3)).astype(np.float32)
    return np.kron(grid, np.ones((50, 50, 1), np.float32)).astype(np.uint8)


def test_pdq_of_a_1mp_image_runs_on_one_blas_thread_unpinned(blas_at_two, monkeypatch):
    seen = []
    tent = pdq._tent

    def spying_tent(*args):
        # called inside downsample64, right before its products
        seen.append(_threads_now(blas_at_two))
        return tent(*args)

    monkeypatch.setattr(pdq, "_tent", spying_tent)
    words, _ = pdq.hash_array(_photo())
    assert words.any()
    assert seen and set(seen) == {1}
    assert _threads_now(blas_at_two) == 2  # the caller's setting is back


def test_dihedral_and_thumbnails_run_on_one_blas_thread(blas_at_two, monkeypatch):
    seen = []
    tent, coefficients = pdq._tent, resample.coefficients

    def spy(fn):
        def wrapped(*args):
            seen.append(_threads_now(blas_at_two))
            return fn(*args)
        return wrapped

    monkeypatch.setattr(pdq, "_tent", spy(tent))
    monkeypatch.setattr(resample, "coefficients", spy(coefficients))
    rgb = _photo(600, 800)
    pdq.hash_dihedral_exact(rgb)
    resample.resize_many(rgb[:, :, 0].copy(), [(32, 32), (9, 8)])
    assert len(seen) >= 4 and set(seen) == {1}
    assert _threads_now(blas_at_two) == 2


def test_dct_of_buffers_runs_on_one_blas_thread(blas_at_two, monkeypatch):
    seen = []
    real = pdq._DCT

    class Spy(np.ndarray):
        def __matmul__(self, other):
            seen.append(_threads_now(blas_at_two))
            return np.asarray(self) @ other

    monkeypatch.setattr(pdq, "_DCT", real.view(Spy))
    out = pdq.dct16(np.ones((2, 64, 64), np.float32))
    assert out.shape == (2, 16, 16)
    assert seen == [1]


def test_concurrent_callers_share_one_window_and_restore(blas_at_two):
    """Several threads hashing at once: each runs on one thread throughout, and the setting comes
    back only when the last one returns (a restore by the first to finish would let the others'
    products spread over every core again)."""
    seen, errors = [], []
    start = threading.Barrier(4)

    @blas.one_blas_thread
    def slow_product(i):
        start.wait(timeout=10)
        for _ in range(20):
            seen.append(_threads_now(blas_at_two))
            np.ones((64, 300), np.float32) @ np.ones((300, 64), np.float32)

    def run(i):
        try:
            slow_product(i)
        except Exception as exc:  # reported below: an assertion in a thread would be lost
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors
    assert len(seen) == 80 and set(seen) == {1}
    assert _threads_now(blas_at_two) == 2


def test_an_exception_restores_the_setting(blas_at_two):
    @blas.one_blas_thread
    def fails():
        raise ValueError("boom")

    with pytest.raises(ValueError):
        fails()
    assert _threads_now(blas_at_two) == 2


def test_a_caller_pinned_to_one_thread_stays_pinned():
    libs = _blas_libs()
    if not libs:
        pytest.skip("no BLAS library that threadpoolctl can control")
    with ThreadpoolController().limit(limits=1, user_api="blas"):
        pdq.hash_array(_photo(200, 300))
        assert _threads_now(libs) == 1
