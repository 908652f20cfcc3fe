"""Length-adaptive compilation: the paper's buckets (16 prefill, 128 decode programs up to 2048)
and the storage they save."""

from __future__ import annotations

import pytest

from core.errors import UserError
from sim.flightllm.buckets import (
    decode_bucket,
    decode_buckets,
    prefill_bucket,
    prefill_buckets,
    storage_ratio,
)


def test_the_papers_program_counts():
    assert len(prefill_buckets()) == 16 and len(decode_buckets()) == 128
    assert prefill_buckets()[-1] == decode_buckets()[-1] == 2048


@pytest.mark.parametrize("tokens, bucket", [(1, 128), (127, 128), (128, 128), (129, 256),
                                            (2047, 2048), (2048, 2048)])
def test_prefill_rounds_up_to_128(tokens, bucket):
    assert prefill_bucket(tokens) == bucket


@pytest.mark.parametrize("context, bucket", [(1, 16), (16, 16), (17, 32), (144, 144), (145, 160),
                                             (2048, 2048)])
def test_decode_rounds_up_to_16(context, bucket):
    assert decode_bucket(context) == bucket


@pytest.mark.parametrize("length", [0, -3, 2049])
def test_lengths_beyond_the_compiled_range_are_refused(length):
    with pytest.raises(UserError, match="from 1 to 2048"):
        prefill_bucket(length)
    with pytest.raises(UserError, match="from 1 to 2048"):
        decode_bucket(length)


def test_storage_ratio_counts_every_exact_length():
    """Programs of constant size: 4096 exact-length programs over 144 bucket programs."""
    assert storage_ratio(lambda n: 1.0, lambda n: 1.0) == pytest.approx(4096 / 144)
    # prefill bytes ∝ tokens (the artifact: ≈ 0.27 MB per token), decode constant (≈ 3 MB):
    ratio = storage_ratio(lambda n: 0.27e6 * n, lambda n: 3e6)
    exact = 0.27e6 * 2048 * 2049 / 2 + 3e6 * 2048
    bucketed = 0.27e6 * sum(range(128, 2049, 128)) + 3e6 * 128
    assert ratio == pytest.approx(exact / bucketed)
