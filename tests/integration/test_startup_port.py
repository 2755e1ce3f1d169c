"""`inferwatch up`'s check that its ports are free: binds a listening socket on a loopback
port and checks that the port is refused in one line."""

from __future__ import annotations

import socket

import pytest

from agent.startup import PortBusy, check_port_free

pytestmark = pytest.mark.integration


def test_a_port_someone_listens_on_is_refused_in_one_line():
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PortBusy) as busy:
            check_port_free("127.0.0.1", port, "set serving.port")
    assert str(busy.value).startswith(f"cannot listen on 127.0.0.1:{port}: the port is already")
    assert str(busy.value).endswith("set serving.port") and "\n" not in str(busy.value)
    check_port_free("127.0.0.1", port)  # free again once the holder closed it
    check_port_free("127.0.0.1", 0)  # any free port: nothing to check
