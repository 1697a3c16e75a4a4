"""Free TCP ports on 127.0.0.1 for the VMs' forwarded ssh."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable

from .errors import LabError


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    # SO_REUSEADDR as QEMU's hostfwd uses it: a connection left in TIME_WAIT
    # does not stop QEMU from listening, only a live listener does.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def allocate_ports(
    count: int,
    port_range: tuple[int, int],
    taken: Iterable[int] = (),
    is_free: Callable[[int], bool] = port_is_free,
) -> list[int]:
    """The first `count` ports of `port_range` that are free and not in `taken`."""
    lo, hi = port_range
    taken = set(taken)
    ports: list[int] = []
    for port in range(lo, hi + 1):
        if len(ports) == count:
            break
        if port not in taken and is_free(port):
            ports.append(port)
    if len(ports) < count:
        raise LabError(
            f"no free 127.0.0.1 port left in {lo}-{hi} (NCLAB_SSH_PORTS): need {count}, found {len(ports)}",
            hint="stop whatever holds those ports, or set NCLAB_SSH_PORTS to another range",
        )
    return ports
