"""Building RequestRecords for tests."""

from agent.record import RequestRecord


def make_record(request_id: str = "r", **fields) -> RequestRecord:
    """A valid record with sensible defaults; any field can be overridden."""
    base = dict(
        request_id=request_id,
        trace_id="0" * 31 + "1",
        span_id="0" * 15 + "1",
        tenant="t",
        model="m",
        operation="chat",
        path="/v1/chat/completions",
        stream=False,
        wall_time=0.0,
        start_ns=0,
        end_ns=1,
    )
    return RequestRecord(**{**base, **fields})
