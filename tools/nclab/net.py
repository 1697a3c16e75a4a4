"""The lab's data network: a Linux bridge inside a network namespace the lab owns.

Each VM's data NIC is a multi-queue tap device created *inside* that namespace
and handed to QEMU as open file descriptors, so QEMU itself stays in the host
namespace (where its user-mode management NIC forwards ssh to 127.0.0.1) while
the data segment is reachable from nowhere but the lab VMs.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct
import subprocess
from pathlib import Path

from .errors import LabError
from .util import require_tool, run

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
IFF_MULTI_QUEUE = 0x0100
BRIDGE = "br0"
DATA_MTU = 9000


def netns_path(ns: str) -> Path:
    return Path("/run/netns") / ns


def netns_exists(ns: str) -> bool:
    return netns_path(ns).exists()


def ensure_netns(ns: str) -> None:
    require_tool("ip", "iproute2")
    if not netns_exists(ns):
        run(["ip", "netns", "add", ns], f"creating network namespace {ns}")
    links = subprocess.run(["ip", "-n", ns, "-o", "link", "show", BRIDGE], capture_output=True, check=False)
    if links.returncode != 0:
        run(
            ["ip", "-n", ns, "link", "add", BRIDGE, "mtu", str(DATA_MTU), "type", "bridge"],
            f"creating bridge {BRIDGE} in {ns}",
        )
    run(["ip", "-n", ns, "link", "set", "lo", "up"], f"lo up in {ns}")
    run(["ip", "-n", ns, "link", "set", BRIDGE, "up"], f"{BRIDGE} up in {ns}")


def delete_netns(ns: str) -> None:
    if netns_exists(ns):
        run(["ip", "netns", "del", ns], f"deleting network namespace {ns}")


def open_tap(ns: str, ifname: str, queues: int) -> list[int]:
    """Create tap `ifname` in `ns` with `queues` queues; return one open fd per queue."""
    if len(ifname) > 15:
        raise LabError(f"tap name {ifname!r} is longer than 15 characters")
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(netns_path(ns), os.O_RDONLY)
    fds: list[int] = []
    try:
        if libc.setns(there, CLONE_NEWNET) != 0:
            raise LabError(f"cannot enter network namespace {ns}: {os.strerror(ctypes.get_errno())}")
        try:
            flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE
            ifr = struct.pack("16sH", ifname.encode(), flags)
            for _ in range(queues):
                fd = os.open("/dev/net/tun", os.O_RDWR)
                fds.append(fd)
                fcntl.ioctl(fd, TUNSETIFF, ifr)
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise LabError(f"cannot create tap {ifname} in {ns}: {exc}") from None
        finally:
            if libc.setns(here, CLONE_NEWNET) != 0:
                raise LabError("cannot return to the host network namespace")
    finally:
        os.close(here)
        os.close(there)
    run(
        ["ip", "-n", ns, "link", "set", ifname, "master", BRIDGE, "mtu", str(DATA_MTU), "up"],
        f"attaching {ifname} to {BRIDGE} in {ns}",
    )
    return fds
