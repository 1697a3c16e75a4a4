import socket

import pytest
from nclab.errors import LabError
from nclab.ports import allocate_ports, port_is_free


def test_skips_busy_and_taken_ports():
    busy = {10000, 10002}
    ports = allocate_ports(3, (10000, 10010), taken={10001}, is_free=lambda p: p not in busy)
    assert ports == [10003, 10004, 10005]


def test_no_free_port_names_range_and_variable():
    expected = r"no free 127.0.0.1 port left in 10000-10002 \(NCLAB_SSH_PORTS\): need 2, found 1"
    with pytest.raises(LabError, match=expected):
        allocate_ports(2, (10000, 10002), is_free=lambda p: p == 10001)


def test_real_listener_makes_port_busy():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not port_is_free(port)
        assert allocate_ports(1, (port, port + 50))[0] != port
