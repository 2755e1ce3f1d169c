"""A request's span names its experiment, variant and, for a shadow copy, what it copied."""

from __future__ import annotations

import dataclasses

import pytest

from agent.tracing import span_attributes
from tests.store_records import make_record

pytestmark = pytest.mark.unit


def test_experiment_variant_and_shadow_of_are_span_attributes_when_set():
    plain = span_attributes(make_record(1))
    assert not {"inferwatch.experiment", "inferwatch.variant", "inferwatch.shadow_of"} & set(plain)
    copy = dataclasses.replace(
        make_record(2), experiment="exp1", variant="candidate", shadow_of="r-primary"
    )
    attrs = span_attributes(copy)
    assert attrs["inferwatch.experiment"] == "exp1"
    assert attrs["inferwatch.variant"] == "candidate"
    assert attrs["inferwatch.shadow_of"] == "r-primary"
