"""RequestRecord derived timings."""

import dataclasses

import pytest

from tests.records import make_record

pytestmark = pytest.mark.unit


def test_derived_timings_and_frozen():
    r = make_record(
        tenant="x",
        stream=True,
        start_ns=1_000_000_000,
        end_ns=3_000_000_000,
        first_token_ns=1_500_000_000,
        completion_tokens=11,
    )
    assert r.duration_s == 2.0 and r.ttft_s == 0.5
    assert r.tpot_s == pytest.approx(1.5 / 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.tenant = "y"
    assert dataclasses.replace(r, completion_tokens=1).tpot_s is None
    # A non-streamed answer arrives whole: no token times were seen, so no TPOT (the store
    # and the Elasticsearch document read this property).
    assert dataclasses.replace(r, stream=False).tpot_s is None
    assert r.to_dict()["tenant"] == "x"
