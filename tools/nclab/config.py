"""Lab settings: defaults, overridden by NCLAB_* environment variables and CLI flags.

Every value is validated here, and a bad one raises LabError naming the value and
where it came from (the variable or flag), before anything is started.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LabError

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_NET = ipaddress.ip_network("198.18.0.0/15")
# The management NIC is QEMU user-mode networking: its addresses exist only
# inside each QEMU process, and we keep them in the benchmarking range too.
MGMT_NET = ipaddress.ip_network("198.19.255.0/24")
MGMT_GUEST_IP = "198.19.255.15"
MAX_HOSTS = 32
ACCELS = ("auto", "kvm", "tcg")


def _int(env: dict, name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise LabError(f"{name}={raw!r} (environment) is not a whole number") from None
    if not lo <= value <= hi:
        raise LabError(f"{name}={value} (environment) is out of range {lo}..{hi}")
    return value


def parse_port_range(text: str, source: str) -> tuple[int, int]:
    try:
        lo_s, hi_s = text.split("-", 1)
        lo, hi = int(lo_s), int(hi_s)
    except ValueError:
        raise LabError(f"{source}={text!r} is not a port range like 10022-10221") from None
    if not 1024 <= lo <= hi <= 65535:
        raise LabError(f"{source}={text!r}: ports must satisfy 1024 <= low <= high <= 65535")
    return lo, hi


def parse_data_subnet(text: str, source: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise LabError(f"{source}={text!r} is not an IPv4 network ({exc})") from None
    if net.version != 4 or not net.subnet_of(BENCH_NET):
        raise LabError(f"{source}={text!r} is outside the benchmarking range {BENCH_NET}")
    if net.overlaps(MGMT_NET):
        raise LabError(f"{source}={text!r} overlaps the lab management network {MGMT_NET}")
    return net


# virtio-net virtqueue sizes QEMU accepts: a power of two from 256 to 1024. QEMU caps the
# transmit queue at 256 for every backend but vhost-user, so the lab's tap NIC stays at 256.
QUEUE_SIZES = (256, 512, 1024)


def _queue_size(env: dict, name: str, default: int) -> int:
    value = _int(env, name, default, -(10**9), 10**9)
    if value not in QUEUE_SIZES:
        raise LabError(f"{name}={value} (environment) must be one of {', '.join(map(str, QUEUE_SIZES))}")
    return value


def validate_count(count: int, source: str) -> int:
    if count < 1:
        raise LabError(f"{source}={count}: a lab needs at least 1 VM")
    if count > MAX_HOSTS:
        raise LabError(f"{source}={count}: at most {MAX_HOSTS} VMs are supported")
    return count


@dataclass
class LabConfig:
    count: int = 2
    memory_mb: int = 1536
    cpus: int = 2
    data_queues: int = 2
    # Ring sizes of the data NIC (QEMU rx_queue_size/tx_queue_size): the maxima `ethtool -g` shows.
    # QEMU's default; 1024 lets rings grow, but guests then did not come back from a warm reboot here.
    data_rx_queue_size: int = 256
    data_tx_queue_size: int = 256
    name: str = "nclab"
    state_dir: Path = field(default_factory=lambda: REPO_ROOT / ".lab")
    cache_dir: Path = field(default_factory=lambda: Path.home() / ".cache" / "netchannel-lab")
    inventory_path: Path = field(default_factory=lambda: REPO_ROOT / "inventory" / "lab" / "hosts.yml")
    data_subnet: ipaddress.IPv4Network = field(default_factory=lambda: ipaddress.ip_network("198.18.0.0/24"))
    port_range: tuple[int, int] = (10022, 10221)
    boot_timeout: int = 600
    accel: str = "auto"
    kernel_abi: str = "auto"
    suite: str = "bookworm"

    @classmethod
    def from_env(cls, env: dict | None = None) -> LabConfig:
        env = dict(os.environ if env is None else env)
        cfg = cls()
        cfg.count = validate_count(_int(env, "NCLAB_COUNT", cfg.count, -(10**6), 10**6), "NCLAB_COUNT")
        cfg.memory_mb = _int(env, "NCLAB_MEMORY_MB", cfg.memory_mb, 256, 16384)
        cfg.cpus = _int(env, "NCLAB_CPUS", cfg.cpus, 1, 16)
        cfg.data_queues = _int(env, "NCLAB_DATA_QUEUES", cfg.data_queues, 1, 16)
        cfg.data_rx_queue_size = _queue_size(env, "NCLAB_DATA_RX_QUEUE_SIZE", cfg.data_rx_queue_size)
        cfg.data_tx_queue_size = _queue_size(env, "NCLAB_DATA_TX_QUEUE_SIZE", cfg.data_tx_queue_size)
        if cfg.data_tx_queue_size != 256:
            raise LabError(
                f"NCLAB_DATA_TX_QUEUE_SIZE={cfg.data_tx_queue_size} (environment): QEMU allows more than 256 "
                "only with vhost-user, and the lab's data NIC is a tap"
            )
        cfg.boot_timeout = _int(env, "NCLAB_BOOT_TIMEOUT", cfg.boot_timeout, 10, 7200)
        if env.get("NCLAB_STATE_DIR"):
            cfg.state_dir = Path(env["NCLAB_STATE_DIR"]).resolve()
        if env.get("NCLAB_CACHE_DIR"):
            cfg.cache_dir = Path(env["NCLAB_CACHE_DIR"]).resolve()
        if env.get("NCLAB_INVENTORY"):
            cfg.inventory_path = Path(env["NCLAB_INVENTORY"]).resolve()
        if env.get("NCLAB_DATA_SUBNET"):
            cfg.data_subnet = parse_data_subnet(env["NCLAB_DATA_SUBNET"], "NCLAB_DATA_SUBNET")
        if env.get("NCLAB_SSH_PORTS"):
            cfg.port_range = parse_port_range(env["NCLAB_SSH_PORTS"], "NCLAB_SSH_PORTS")
        accel = env.get("NCLAB_ACCEL", cfg.accel)
        if accel not in ACCELS:
            raise LabError(f"NCLAB_ACCEL={accel!r} (environment) must be one of {', '.join(ACCELS)}")
        cfg.accel = accel
        abi = env.get("NCLAB_KERNEL_ABI", cfg.kernel_abi)
        if abi != "auto" and not _is_abi(abi):
            raise LabError(f"NCLAB_KERNEL_ABI={abi!r} (environment) must be 'auto' or like 6.1.0-56")
        cfg.kernel_abi = abi
        name = env.get("NCLAB_NAME", cfg.name)
        if not name.isalnum() or len(name) > 8:
            raise LabError(f"NCLAB_NAME={name!r} (environment) must be 1-8 letters or digits")
        cfg.name = name
        return cfg

    def host_names(self) -> list[str]:
        return [f"{self.name}{i}" for i in range(1, self.count + 1)]

    def data_ip(self, index: int) -> ipaddress.IPv4Address:
        """Data address of host number index (1-based)."""
        hosts = list(self.data_subnet.hosts())
        if index > len(hosts):
            raise LabError(f"data subnet {self.data_subnet} has no room for host {index}")
        return hosts[index - 1]


def _is_abi(text: str) -> bool:
    parts = text.split("-")
    return len(parts) == 2 and all(p.replace(".", "").isdigit() for p in parts) and text.startswith("6.")
