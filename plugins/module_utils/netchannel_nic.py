# SPDX-License-Identifier: GPL-2.0-only
"""NIC tuning engine of the netchannel_nic module: read a NIC's state, plan, apply, report.

Pure Python (standard library only) so that unit tests can feed it recorded command
output, and so that the persistence unit can run the same code at boot without Ansible.
Everything touching the host goes through a `System` object (`run`, `read`, `write`,
`listdir`, `readlink`); `LocalSystem` is the real one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

# Short names users write -> the feature names `ethtool -k` prints.
FEATURES = {
    "tso": "tcp-segmentation-offload",
    "gso": "generic-segmentation-offload",
    "gro": "generic-receive-offload",
    "lro": "large-receive-offload",
    "rx": "rx-checksumming",
    "tx": "tx-checksumming",
    "ntuple": "ntuple-filters",
}
COALESCE_KEYS = (
    "adaptive-rx",
    "adaptive-tx",
    "rx-usecs",
    "rx-frames",
    "tx-usecs",
    "tx-frames",
)
# Sysctls the role may set: the ones the upstream setup and experiment scripts touch.
SYSCTL_RE = re.compile(r"^(net\.(core|ipv4)\.[a-z0-9_]+|kernel\.sched_autogroup_enabled)$")
# Upper bounds beyond which a value is a typo, not a tuning choice.
LIMITS = {
    "mtu": (68, 65536),
    "ring": (1, 65536),
    "channels": (1, 4096),
    "coalesce": (0, 10_000_000),
    "rfs_entries": (0, 1 << 29),
    "rps_flow_cnt": (0, 1 << 27),
}
SETTING_ORDER = ("mtu", "channels", "rings", "features", "coalesce", "sysctl", "qdisc", "rfs", "rps", "xps", "irq")

# Named profiles, after the upstream setup scripts (network_setup, enable_arfs, run_single_flow_set_up*,
# run_np*, run_mix_flow*): the values a profile gives, each overridden by an explicit value (sysctls
# key by key; resolve()). The NIC role applies one per host; the experiments role switches between
# them per figure. Values above a NIC's maximum are clamped with a warning.
_COMMON_SYSCTLS = {
    "net.core.default_qdisc": "pfifo_fast",
    "kernel.sched_autogroup_enabled": "0",
    "net.ipv4.tcp_rmem": "4096 131072 6291456",
}
# Long flows (Fig. 2, 6a/b, 6d, 8a/b/d): offloads on, jumbo frames, large rings, aRFS where the NIC has it.
_LONG_FLOWS = {
    "mtu": 9000,
    "rings": {"rx": 1024},
    "channels": {"combined": 32},
    "features": {"tso": True, "gso": True, "gro": True, "lro": False},
    "root_qdisc": "mq",
    "sysctls": _COMMON_SYSCTLS,
    "arfs": True,
    "rfs_entries": 32768,
}
PROFILES: dict[str, dict] = {
    "long_flows": _LONG_FLOWS,
    # Short flows (Fig. 3, 6c, 7, 8c): the same with offloads off and the standard MTU.
    "short_flows": {
        **_LONG_FLOWS,
        "mtu": 1500,
        "features": {"tso": False, "gso": False, "gro": False, "lro": False},
    },
    # IRQ-pinned TCP baseline (Fig. 2 irq-tcp, 6a/b tcp, 8b tcp): long flows without aRFS or RFS, every
    # queue interrupt on one CPU (upstream: core 4; set irq_cpus on smaller hosts).
    "tcp_irq_baseline": {**_LONG_FLOWS, "arfs": False, "rfs_entries": 0, "irq_cpus": [4], "irq_mode": "single"},
}


def resolve(profile: str, explicit: dict) -> dict:
    """The wanted values: the named profile's ('' for none), each overridden by a value of `explicit`
    that is not None; sysctls merged key by key. Raises NicError for a profile that does not exist."""
    if profile and profile not in PROFILES:
        raise NicError(f"profile={profile!r} is not one of {', '.join(PROFILES)} (or empty for none)")
    base = PROFILES.get(profile, {}) if profile else {}
    out = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v) for k, v in base.items()}
    for key, value in explicit.items():
        if value is None:
            continue
        if key == "sysctls":
            out["sysctls"] = {**out.get("sysctls", {}), **value}
        else:
            out[key] = value
    return out


class NicError(Exception):
    """Bad input or a host that cannot be handled: the message names host, interface and value."""


# --------------------------------------------------------------------------- parsing


def parse_cpu_list(text: str) -> list[int]:
    """'0-3,8,10-11' -> [0, 1, 2, 3, 8, 10, 11]. Raises ValueError on anything else."""
    cpus: set[int] = set()
    text = text.strip()
    if not text:
        return []
    for raw in text.split(","):
        part = raw.strip()
        m = re.fullmatch(r"(\d+)(?:-(\d+))?(?::(\d+))?", part)
        if not m:
            raise ValueError(f"bad CPU list element {part!r}")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        step = int(m.group(3)) if m.group(3) is not None else 1
        if hi < lo or step < 1:
            raise ValueError(f"bad CPU range {part!r}")
        cpus.update(range(lo, hi + 1, step))
    return sorted(cpus)


def format_cpu_list(cpus) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (the kernel's smp_affinity_list form)."""
    out = []
    cpus = sorted(set(cpus))
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[j] + 1:
            j += 1
        out.append(str(cpus[i]) if i == j else f"{cpus[i]}-{cpus[j]}")
        i = j + 1
    return ",".join(out)


def parse_cpu_mask(text: str) -> list[int]:
    """Kernel hex mask ('00000000,00000003' or '3') -> CPU numbers."""
    value = int(text.strip().replace(",", "") or "0", 16)
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def format_cpu_mask(cpus) -> str:
    """CPU numbers -> hex mask in 32-bit comma-separated groups, as the kernel parses it."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    digits = f"{value:x}"
    groups = []
    while digits:
        groups.insert(0, digits[-8:])
        digits = digits[:-8]
    return ",".join(groups) or "0"


def _json_first(text: str):
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return data[0]
    return None


def _num(text: str):
    text = text.strip()
    if text in {"n/a", ""}:
        return None
    if text in {"on", "off"}:
        return text == "on"
    try:
        return int(text)
    except ValueError:
        return text


def _two_sections(text: str) -> tuple[dict, dict]:
    """ethtool -g / -l text: ('Pre-set maximums', 'Current hardware settings') as {lowercased key: value}."""
    maxima: dict = {}
    current: dict = {}
    target = None
    for line in text.splitlines():
        low = line.strip().lower()
        if low.startswith("pre-set maximums"):
            target = maxima
            continue
        if low.startswith("current hardware settings"):
            target = current
            continue
        if target is None or ":" not in line:
            continue
        key, _, value = line.partition(":")
        target[key.strip().lower()] = _num(value)
    return maxima, current


def parse_rings(text: str) -> dict:
    """`ethtool [--json] -g` -> {'rx': {'cur': n, 'max': m}, 'tx': {...}} (only the rings the NIC has)."""
    data = _json_first(text)
    out = {}
    if data is not None:
        for ring in ("rx", "tx"):
            if isinstance(data.get(f"{ring}-max"), int) and isinstance(data.get(ring), int):
                out[ring] = {"cur": data[ring], "max": data[f"{ring}-max"]}
        return out
    maxima, current = _two_sections(text)
    for ring, key in (("rx", "rx"), ("tx", "tx")):
        if isinstance(maxima.get(key), int) and isinstance(current.get(key), int) and maxima[key] > 0:
            out[ring] = {"cur": current[key], "max": maxima[key]}
    return out


def parse_channels(text: str) -> dict:
    """`ethtool [--json] -l` -> {'combined': {'cur': n, 'max': m}, ...} (only kinds with a maximum > 0)."""
    data = _json_first(text)
    out = {}
    if data is not None:
        for kind in ("rx", "tx", "other", "combined"):
            mx, cur = data.get(f"{kind}-max"), data.get(f"{kind}-count", data.get(kind))
            if isinstance(mx, int) and mx > 0 and isinstance(cur, int):
                out[kind] = {"cur": cur, "max": mx}
        return out
    maxima, current = _two_sections(text)
    for kind in ("rx", "tx", "other", "combined"):
        mx, cur = maxima.get(kind), current.get(kind)
        if isinstance(mx, int) and mx > 0 and isinstance(cur, int):
            out[kind] = {"cur": cur, "max": mx}
    return out


def parse_features(text: str) -> dict:
    """`ethtool -k` -> {'tcp-segmentation-offload': {'on': True, 'fixed': False}, ...}."""
    data = _json_first(text)
    out = {}
    if data is not None:
        for name, value in data.items():
            if isinstance(value, dict) and "active" in value:
                out[name] = {"on": bool(value["active"]), "fixed": bool(value.get("fixed", False))}
        return out
    for line in text.splitlines():
        m = re.match(r"^\s*([a-z0-9-]+):\s+(on|off)(.*)$", line)
        if m:
            out[m.group(1)] = {"on": m.group(2) == "on", "fixed": "[fixed]" in m.group(3)}
    return out


def parse_coalesce(text: str) -> dict:
    """`ethtool [--json] -c` -> {'rx-usecs': 8, 'adaptive-rx': True, ...}; keys the NIC reports as n/a are left out."""
    data = _json_first(text)
    out = {}
    if data is not None:
        for key in COALESCE_KEYS:
            if isinstance(data.get(key), (bool, int)):
                out[key] = data[key]
        return out
    for line in text.splitlines():
        m = re.match(r"^Adaptive RX:\s*(\S+)\s+TX:\s*(\S+)", line.strip())
        if m:
            for key, value in (("adaptive-rx", m.group(1)), ("adaptive-tx", m.group(2))):
                if value in {"on", "off"}:
                    out[key] = value == "on"
            continue
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in COALESCE_KEYS:
            parsed = _num(value)
            if isinstance(parsed, int) and not isinstance(parsed, bool):
                out[key] = parsed
    return out


def parse_interrupts(text: str) -> dict[int, str]:
    """/proc/interrupts -> {irq number: action name(s)} for numbered IRQs."""
    out = {}
    lines = text.splitlines()
    if not lines:
        return out
    ncpu = len(lines[0].split())
    for line in lines[1:]:
        head, sep, rest = line.partition(":")
        if not sep or not head.strip().isdigit():
            continue
        fields = rest.split()
        # ncpu counters, then the chip name(s) and hw irq, then the action names (may hold spaces).
        tail = fields[ncpu:]
        out[int(head)] = tail[-1] if tail else ""
    return out


def _major(handle: str) -> str:
    """'8001:' -> '8001', ':2' -> '0' (tc prints the default root's handle 0: as an empty major)."""
    return (handle or "").split(":")[0] or "0"


def parse_qdiscs(qdiscs: list[dict]) -> dict:
    """`tc -j qdisc show dev IF` -> {'root': kind, 'children': [kinds of the root's direct children]}."""
    root = next((q for q in qdiscs if q.get("root")), None)
    if root is None:
        return {"root": None, "children": []}
    major = _major(root.get("handle", ""))
    children = {q.get("kind", "") for q in qdiscs if not q.get("root") and _major(q.get("parent", "")) == major}
    return {"root": root.get("kind"), "children": sorted(children)}


def queue_irqs(interrupts: dict[int, str], ifname: str, virtio_dev: str | None, pci_addr: str | None) -> list[dict]:
    """Receive-queue IRQs of one interface, by the driver's naming, as [{'irq', 'queue', 'name', 'kind'}].

    virtio-net: 'virtioN-input.M' (and its paired 'virtioN-output.M'); mlx5: 'mlx5_compM@pci:<addr>';
    most others name vectors after the interface: '<if>-TxRx-M', '<if>-rx-M', '<if>-M'.
    """
    patterns = []
    if virtio_dev:
        v = re.escape(virtio_dev)
        patterns += [(re.compile(rf"^{v}-input\.(\d+)$"), "rx"), (re.compile(rf"^{v}-output\.(\d+)$"), "tx")]
    if pci_addr:
        patterns.append((re.compile(rf"^mlx5_comp(\d+)@pci:{re.escape(pci_addr)}$"), "rxtx"))
    i = re.escape(ifname)
    patterns += [
        (re.compile(rf"^{i}-(?:TxRx|txrx|fp|rxtx|combined)-(\d+)$"), "rxtx"),
        (re.compile(rf"^{i}-rx-(\d+)$"), "rx"),
        (re.compile(rf"^{i}-tx-(\d+)$"), "tx"),
        (re.compile(rf"^{i}-(\d+)$"), "rxtx"),
    ]
    found = []
    for irq, name in sorted(interrupts.items()):
        for pat, kind in patterns:
            m = pat.match(name)
            if m:
                found.append({"irq": irq, "queue": int(m.group(1)), "name": name, "kind": kind})
                break
    return sorted(found, key=lambda d: (d["queue"], d["kind"], d["irq"]))


def round_pow2(value: int) -> int:
    """The kernel rounds rps_sock_flow_entries and rps_flow_cnt up to a power of two (0 stays 0)."""
    if value <= 0:
        return 0
    return 1 << (value - 1).bit_length()


def rfs_per_queue(entries: int, queues: int) -> int:
    """Default rps_flow_cnt: the global table divided among the receive queues (kernel scaling.rst)."""
    if queues <= 0 or entries <= 0:
        return 0
    return round_pow2(-(-entries // queues))


def spread(cpus: list[int], count: int) -> list[list[int]]:
    """One CPU per queue over `cpus`, wrapping when there are more queues than CPUs."""
    if not cpus:
        return [[] for _ in range(count)]
    return [[cpus[q % len(cpus)]] for q in range(count)]


def xps_spread(cpus: list[int], count: int) -> list[list[int]]:
    """Every CPU of the list to exactly one transmit queue (round robin); each queue gets at least one CPU."""
    if not cpus:
        return [[] for _ in range(count)]
    per = [[] for _ in range(count)]
    for idx, cpu in enumerate(cpus):
        per[idx % count].append(cpu)
    per = [sorted(set(p)) for p in per]
    for q in range(count):
        if not per[q]:
            per[q] = [cpus[q % len(cpus)]]
    return per


# --------------------------------------------------------------------------- host access


class LocalSystem:
    """The real host."""

    def run(self, argv: list[str]) -> tuple[int, str, str]:
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as exc:
            return 127, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr

    def read(self, path: str) -> str | None:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            return None

    def write(self, path: str, text: str) -> str | None:
        try:
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            return exc.strerror or str(exc)
        return None

    def listdir(self, path: str) -> list[str] | None:
        try:
            return sorted(os.listdir(path))
        except OSError:
            return None

    def readlink(self, path: str) -> str | None:
        try:
            return os.path.realpath(path) if os.path.exists(path) else None
        except OSError:
            return None


def _ethtool(system, flag: str, ifname: str) -> str | None:
    """ethtool output; None when the query fails (the NIC has no such parameters).

    Features are asked in JSON (ethtool 5.x/6.x have `--json -k`), falling back to text; ring,
    channel and coalesce queries are read as text, which every ethtool version prints (6.1 has no
    JSON for them, and each extra process costs a tenth of a second on a slow host). The parsers
    take either form.
    """
    if flag == "-k":
        rc, out, _ = system.run(["ethtool", "--json", flag, ifname])
        if rc == 0 and _json_first(out) is not None:
            return out
    rc, out, _ = system.run(["ethtool", flag, ifname])
    return out if rc == 0 else None


def sysctl_path(name: str) -> str:
    return "/proc/sys/" + name.replace(".", "/")


def _norm(value) -> str:
    return " ".join(str(value).split())


def _queue_sort(names: list[str], prefix: str) -> list[str]:
    picked = [n for n in names if re.fullmatch(rf"{prefix}-\d+", n)]
    return sorted(picked, key=lambda n: int(n.split("-")[1]))


def read_state(system, ifname: str, sysctls=()) -> dict:
    """Everything the engine compares, from the host's own view. {'exists': False} when there is no such NIC."""
    base = f"/sys/class/net/{ifname}"
    if not ifname or "/" in ifname or system.listdir(base) is None:
        return {"exists": False}
    state: dict = {"exists": True, "interface": ifname}
    rc, out, _ = system.run(["ip", "-d", "-j", "link", "show", "dev", ifname])
    link = _json_first(out) if rc == 0 else None
    link = link or {}
    mtu = system.read(f"{base}/mtu")
    state["mtu"] = {
        "cur": int(mtu) if mtu and mtu.strip().isdigit() else link.get("mtu"),
        "min": link.get("min_mtu"),
        "max": link.get("max_mtu"),
    }
    rings = _ethtool(system, "-g", ifname)
    state["rings"] = parse_rings(rings) if rings is not None else {}
    channels = _ethtool(system, "-l", ifname)
    state["channels"] = parse_channels(channels) if channels is not None else {}
    features = _ethtool(system, "-k", ifname)
    state["features"] = parse_features(features) if features is not None else {}
    coalesce = _ethtool(system, "-c", ifname)
    state["coalesce"] = parse_coalesce(coalesce) if coalesce is not None else {}
    rc, out, _ = system.run(["tc", "-j", "qdisc", "show", "dev", ifname])
    qdiscs = []
    if rc == 0:
        try:
            qdiscs = json.loads(out or "[]")
        except ValueError:
            qdiscs = []
    state["qdisc"] = parse_qdiscs(qdiscs)
    state["sysctls"] = {}
    for name in sysctls:
        raw = system.read(sysctl_path(name)) if SYSCTL_RE.match(name) else None
        state["sysctls"][name] = _norm(raw) if raw is not None else None
    queues = system.listdir(f"{base}/queues") or []
    state["rx_queues"] = _queue_sort(queues, "rx")
    state["tx_queues"] = _queue_sort(queues, "tx")
    state["rps_flow_cnt"], state["rps_cpus"], state["xps_cpus"] = {}, {}, {}
    for q in state["rx_queues"]:
        cnt = system.read(f"{base}/queues/{q}/rps_flow_cnt")
        state["rps_flow_cnt"][q] = int(cnt) if cnt is not None and cnt.strip().isdigit() else None
        mask = system.read(f"{base}/queues/{q}/rps_cpus")
        state["rps_cpus"][q] = parse_cpu_mask(mask) if mask is not None else None
    for q in state["tx_queues"]:
        mask = system.read(f"{base}/queues/{q}/xps_cpus")
        state["xps_cpus"][q] = parse_cpu_mask(mask) if mask is not None and mask.strip() else None
    entries = system.read("/proc/sys/net/core/rps_sock_flow_entries")
    state["rfs_entries"] = int(entries) if entries is not None and entries.strip().isdigit() else None
    online = system.read("/sys/devices/system/cpu/online")
    state["cpus"] = parse_cpu_list(online) if online else []
    # The device behind the interface: virtioN for virtio-net, a PCI address otherwise.
    dev = system.readlink(f"{base}/device") or ""
    virtio = os.path.basename(dev) if re.fullmatch(r"virtio\d+", os.path.basename(dev)) else None
    pci = None
    for part in reversed(dev.split("/")):
        if re.fullmatch(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", part):
            pci = part
            break
    drv = system.readlink(f"{base}/device/driver") or ""
    state["driver"] = os.path.basename(drv) if drv else None
    state["device"] = {"virtio": virtio, "pci": pci}
    irqs = queue_irqs(parse_interrupts(system.read("/proc/interrupts") or ""), ifname, virtio, pci)
    for entry in irqs:
        aff = system.read(f"/proc/irq/{entry['irq']}/smp_affinity_list")
        entry["affinity"] = parse_cpu_list(aff) if aff is not None else None
        hint = system.read(f"/proc/irq/{entry['irq']}/affinity_hint")
        hint_cpus = parse_cpu_mask(hint) if hint and hint.strip() else []
        entry["hint"] = hint_cpus or None
    state["irqs"] = irqs
    return state


# --------------------------------------------------------------------------- planning


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate(wanted: dict, state: dict, host: str) -> list[str]:
    """Every problem with the request, before anything changes. Empty when the request is sane."""
    ifname = wanted.get("interface", "")
    where = f"{host}: interface {ifname}"
    if not state.get("exists"):
        return [f"{host}: interface {ifname!r} does not exist (netchannel_nic_interface)"]
    errors = []

    def bounded(label, value, limit):
        lo, hi = LIMITS[limit]
        if value is None:
            return
        if not _is_int(value) or value < lo or value > hi:
            errors.append(f"{where}: {label}={value!r} is not a whole number in {lo}..{hi}")

    bounded("mtu", wanted.get("mtu"), "mtu")
    for ring, value in (wanted.get("rings") or {}).items():
        if ring not in {"rx", "tx"}:
            errors.append(f"{where}: rings.{ring} is not a ring (rx, tx)")
        bounded(f"rings.{ring}", value, "ring")
    for kind, value in (wanted.get("channels") or {}).items():
        if kind not in {"rx", "tx", "combined", "other"}:
            errors.append(f"{where}: channels.{kind} is not a channel kind (combined, rx, tx, other)")
        bounded(f"channels.{kind}", value, "channels")
    for name, value in (wanted.get("features") or {}).items():
        if name not in FEATURES:
            errors.append(f"{where}: features.{name} is not one of {', '.join(FEATURES)}")
        elif value is not None and not isinstance(value, bool):
            errors.append(f"{where}: features.{name}={value!r} must be true or false")
    for key, value in (wanted.get("coalesce") or {}).items():
        if key not in COALESCE_KEYS:
            errors.append(f"{where}: coalesce.{key} is not one of {', '.join(COALESCE_KEYS)}")
        elif key.startswith("adaptive"):
            if value is not None and not isinstance(value, bool):
                errors.append(f"{where}: coalesce.{key}={value!r} must be true or false")
        else:
            bounded(f"coalesce.{key}", value, "coalesce")
    for name, value in (wanted.get("sysctls") or {}).items():
        if not SYSCTL_RE.match(name):
            errors.append(
                f"{where}: sysctl {name!r} is not one this role manages "
                "(net.core.*, net.ipv4.*, kernel.sched_autogroup_enabled)"
            )
            continue
        if value is None:
            continue
        text = _norm(value)
        if not text or re.search(r"[^A-Za-z0-9_ .-]", text):
            errors.append(f"{where}: sysctl {name}={value!r} is not a plain value")
        elif any(tok.startswith("-") for tok in text.split()):
            errors.append(f"{where}: sysctl {name}={value!r} is negative")
        elif name == "kernel.sched_autogroup_enabled" and text not in {"0", "1"}:
            errors.append(f"{where}: sysctl {name}={value!r} must be 0 or 1")
    bounded("rfs_entries", wanted.get("rfs_entries"), "rfs_entries")
    bounded("rps_flow_cnt", wanted.get("rps_flow_cnt"), "rps_flow_cnt")
    qdisc = wanted.get("root_qdisc")
    if qdisc not in (None, "", "mq"):
        errors.append(f"{where}: root_qdisc={qdisc!r} must be 'mq' or empty")
    if wanted.get("irq_mode", "spread") not in {"spread", "single", "hint"}:
        errors.append(f"{where}: irq_mode={wanted.get('irq_mode')!r} must be spread, single or hint")
    online = set(state.get("cpus") or [])
    for key in ("rps_cpus", "xps_cpus", "irq_cpus"):
        cpus = wanted.get(key)
        if cpus is None:
            continue
        if not isinstance(cpus, list) or not all(_is_int(c) for c in cpus):
            errors.append(f"{where}: {key}={cpus!r} must be a list of CPU numbers")
            continue
        outside = sorted({c for c in cpus if c not in online})
        if outside:
            errors.append(
                f"{where}: {key}={cpus!r} names CPUs {format_cpu_list(c for c in outside if c >= 0) or outside} "
                f"that this host does not have (online: {format_cpu_list(online)})"
            )
    known = {"mtu", "rings", "channels", "features", "arfs", "coalesce", "sysctl", "qdisc", "rfs", "rps", "xps", "irq"}
    for req in wanted.get("required") or []:
        head = str(req).split(".")[0]
        if head not in known:
            errors.append(f"{where}: required entry {req!r} names no setting (use e.g. arfs, rings.rx, features.tso)")
    return errors


class Plan:
    """What the engine found: changes to make, warnings, unsupported settings, the report table."""

    def __init__(self):
        self.changes: list[dict] = []
        self.rows: list[dict] = []
        self.warnings: list[str] = []
        self.unsupported: list[str] = []

    def row(self, setting, current, wanted, status):
        self.rows.append({"setting": setting, "current": current, "wanted": wanted, "status": status})

    def change(self, setting, current, wanted, stage, **action):
        self.changes.append({"setting": setting, "current": current, "wanted": wanted, "stage": stage, **action})
        self.row(setting, current, wanted, "change")


def _unsupported(plan: Plan, setting: str, current, wanted, why: str):
    plan.unsupported.append(f"{setting} ({why})")
    plan.row(setting, current, wanted, "unsupported")


def _clamp(p: Plan, setting: str, value: int, maximum: int | None) -> int:
    """The value to apply: `value`, or the NIC's `maximum` (None: no maximum known) with a warning."""
    if maximum is not None and value > maximum:
        p.warnings.append(f"{setting} {value} is above the NIC's maximum {maximum}: using {maximum}")
        return maximum
    return value


def plan(wanted: dict, state: dict) -> Plan:
    """Diff the wanted values against the state. Queue-level values use the queue count the channels will give."""
    p = Plan()
    ifname = wanted["interface"]
    # Link level (stage 1: may change queues, so queue-level settings are planned again after it).
    mtu = wanted.get("mtu")
    if mtu is not None:
        cur = state["mtu"]["cur"]
        target = _clamp(p, "mtu", mtu, state["mtu"].get("max") or None)
        if cur == target:
            p.row("mtu", cur, target, "ok" if target == mtu else "clamped")
        else:
            p.change("mtu", cur, target, 1, argv=["ip", "link", "set", "dev", ifname, "mtu", str(target)])
    channels = state.get("channels") or {}
    for kind, value in sorted((wanted.get("channels") or {}).items()):
        if value is None:
            continue
        have = channels.get(kind)
        setting = f"channels.{kind}"
        if have is None:
            _unsupported(p, setting, None, value, "the NIC has no such channels")
            continue
        target = _clamp(p, setting, value, have["max"])
        if have["cur"] == target:
            p.row(setting, have["cur"], target, "ok" if target == value else "clamped")
        else:
            p.change(setting, have["cur"], target, 1, argv=["ethtool", "-L", ifname, kind, str(target)])
    rings = state.get("rings") or {}
    ring_args = []
    for ring, value in sorted((wanted.get("rings") or {}).items()):
        if value is None:
            continue
        have = rings.get(ring)
        setting = f"rings.{ring}"
        if have is None:
            _unsupported(p, setting, None, value, "the NIC reports no such ring")
            continue
        target = _clamp(p, setting, value, have["max"])
        if have["cur"] == target:
            p.row(setting, have["cur"], target, "ok" if target == value else "clamped")
        elif have["max"] == have["cur"] and target > have["cur"]:
            _unsupported(p, setting, have["cur"], value, "the NIC cannot grow it")
        else:
            ring_args += [ring, str(target)]
            p.row(setting, have["cur"], target, "change")
    if ring_args:
        p.changes.append({"setting": "rings", "stage": 1, "argv": ["ethtool", "-G", ifname, *ring_args]})
    features = state.get("features") or {}
    wanted_features = dict(wanted.get("features") or {})
    if wanted.get("arfs") is not None:
        wanted_features["ntuple"] = bool(wanted["arfs"])
    feat_args = []
    for short, value in sorted(wanted_features.items()):
        if value is None:
            continue
        long_name = FEATURES[short]
        setting = "arfs" if short == "ntuple" and wanted.get("arfs") is not None else f"features.{short}"
        have = features.get(long_name)
        if have is None:
            _unsupported(p, setting, None, value, f"ethtool -k shows no {long_name}")
        elif have["on"] == value:
            p.row(setting, have["on"], value, "ok")
        elif have["fixed"]:
            _unsupported(p, setting, have["on"], value, f"{long_name} is fixed by the driver")
        else:
            feat_args += [short, "on" if value else "off"]
            p.row(setting, have["on"], value, "change")
    if feat_args:
        p.changes.append({"setting": "features", "stage": 1, "argv": ["ethtool", "-K", ifname, *feat_args]})
    coalesce = state.get("coalesce") or {}
    co_args = []
    for key, value in sorted((wanted.get("coalesce") or {}).items()):
        if value is None:
            continue
        setting = f"coalesce.{key}"
        if key not in coalesce:
            _unsupported(p, setting, None, value, "ethtool -c reports it n/a")
        elif coalesce[key] == value:
            p.row(setting, coalesce[key], value, "ok")
        else:
            co_args += [key, ("on" if value else "off") if isinstance(value, bool) else str(value)]
            p.row(setting, coalesce[key], value, "change")
    if co_args:
        p.changes.append({"setting": "coalesce", "stage": 1, "argv": ["ethtool", "-C", ifname, *co_args]})

    # Host level (stage 2).
    for name, value in (wanted.get("sysctls") or {}).items():
        if value is None:
            continue
        cur = state["sysctls"].get(name)
        setting = f"sysctl.{name}"
        if cur is None:
            _unsupported(p, setting, None, _norm(value), "this kernel has no such sysctl")
        elif cur == _norm(value):
            p.row(setting, cur, _norm(value), "ok")
        else:
            p.change(setting, cur, _norm(value), 2, path=sysctl_path(name), text=_norm(value))

    # Queue level (stage 2), with the queue counts stage 1 will leave.
    comb = (wanted.get("channels") or {}).get("combined")
    n_rx, n_tx = len(state["rx_queues"]), len(state["tx_queues"])
    if comb is not None and "combined" in channels:
        target = min(comb, channels["combined"]["max"])
        n_rx = n_tx = target
    rx_q = [f"rx-{i}" for i in range(n_rx)]
    tx_q = [f"tx-{i}" for i in range(n_tx)]
    if wanted.get("root_qdisc") == "mq":
        default = wanted.get("sysctls", {}).get("net.core.default_qdisc") or state["sysctls"].get(
            "net.core.default_qdisc"
        )
        cur = state["qdisc"]
        want = {"root": "mq", "children": [_norm(default)] if default else cur["children"]}
        if n_tx < 2:
            _unsupported(p, "qdisc", cur, want, "mq needs a multi-queue NIC")
        elif cur["root"] == "mq" and (not default or cur["children"] == [_norm(default)]):
            p.row("qdisc", cur, want, "ok")
        else:
            p.change("qdisc", cur, want, 2, qdisc=True)
    base = f"/sys/class/net/{ifname}/queues"
    entries = wanted.get("rfs_entries")
    if entries is not None:
        cur = state.get("rfs_entries")
        target = round_pow2(entries)
        if cur is None:
            _unsupported(p, "rfs", None, target, "the kernel has no RFS (CONFIG_RFS)")
        else:
            if cur == target:
                p.row("rfs.rps_sock_flow_entries", cur, target, "ok")
            else:
                p.change(
                    "rfs.rps_sock_flow_entries",
                    cur,
                    target,
                    2,
                    path=sysctl_path("net.core.rps_sock_flow_entries"),
                    text=str(target),
                )
            per_q = wanted.get("rps_flow_cnt")
            per_q = rfs_per_queue(target, n_rx) if per_q is None else round_pow2(per_q)
            for q in rx_q:
                cur_q = state["rps_flow_cnt"].get(q)
                if q in state["rps_flow_cnt"] and cur_q is None:
                    _unsupported(p, f"rfs.{q}", None, per_q, "no rps_flow_cnt in sysfs")
                elif cur_q == per_q:
                    p.row(f"rfs.{q}.rps_flow_cnt", cur_q, per_q, "ok")
                else:
                    p.change(f"rfs.{q}.rps_flow_cnt", cur_q, per_q, 2, path=f"{base}/{q}/rps_flow_cnt", text=str(per_q))
    for key, queues, prefix in (("rps_cpus", rx_q, "rps"), ("xps_cpus", tx_q, "xps")):
        cpus = wanted.get(key)
        if cpus is None:
            continue
        # RPS: every receive queue may use every listed CPU. XPS: the CPUs in list order over the queues.
        per = [sorted(set(cpus))] * len(queues) if prefix == "rps" else xps_spread(list(cpus), len(queues))
        for q, want in zip(queues, per, strict=True):
            known = state[key]
            cur = known.get(q)
            if q in known and cur is None:
                _unsupported(
                    p, f"{prefix}.{q}", None, format_cpu_list(want), f"no {key} in sysfs (CONFIG_{prefix.upper()})"
                )
            elif cur == want:
                p.row(f"{prefix}.{q}", format_cpu_list(cur), format_cpu_list(want), "ok")
            else:
                p.change(
                    f"{prefix}.{q}",
                    format_cpu_list(cur or []),
                    format_cpu_list(want),
                    2,
                    path=f"{base}/{q}/{key}",
                    text=format_cpu_mask(want),
                )
    _plan_irqs(p, wanted, state, n_rx)
    return p


def _plan_irqs(p: Plan, wanted: dict, state: dict, n_queues: int) -> None:
    mode = wanted.get("irq_mode") or "spread"
    cpus = wanted.get("irq_cpus")
    if cpus is None and mode != "hint":
        return
    irqs = [e for e in state["irqs"] if e["queue"] < n_queues]
    if not irqs:
        _unsupported(p, "irq", None, cpus, f"no queue interrupts found for driver {state.get('driver')}")
        return
    cpus = list(cpus or [])  # in the caller's order: queue M goes to the M-th CPU of the list
    for entry in irqs:
        if mode == "hint":
            want = entry["hint"]
            if not want:
                _unsupported(p, f"irq.{entry['name']}", entry["affinity"], None, "the driver sets no affinity hint")
                continue
        elif mode == "single":
            want = cpus[:1]
        else:
            want = spread(cpus, n_queues)[entry["queue"]]
        setting = f"irq.{entry['name']}"
        cur = entry["affinity"]
        if cur == want:
            p.row(setting, format_cpu_list(cur), format_cpu_list(want), "ok")
        else:
            p.change(
                setting,
                format_cpu_list(cur or []),
                format_cpu_list(want),
                2,
                path=f"/proc/irq/{entry['irq']}/smp_affinity_list",
                text=format_cpu_list(want),
            )


def required_failures(p: Plan, required) -> list[str]:
    """Unsupported settings the caller marked required ('arfs', 'rings', 'rings.rx', 'features.tso', ...)."""
    bad = []
    for item in p.unsupported:
        setting = item.split(" ")[0]
        for req in required or []:
            # 'rings' (one ethtool -G for both rings) covers 'rings.rx'; 'rfs' covers 'rfs.rx-0.rps_flow_cnt'.
            if setting == req or setting.startswith(f"{req}.") or req.startswith(f"{setting}."):
                bad.append(item)
                break
    return bad


# --------------------------------------------------------------------------- applying


def apply_change(system, change: dict, ifname: str) -> str | None:
    """Make one change; an error text when the host refused it."""
    if change.get("qdisc"):
        system.run(["tc", "qdisc", "del", "dev", ifname, "root"])
        rc, _, err = system.run(["tc", "qdisc", "replace", "dev", ifname, "root", "handle", "8001:", "mq"])
        return None if rc == 0 else err.strip() or f"tc exited {rc}"
    if "argv" in change:
        rc, out, err = system.run(change["argv"])
        return None if rc == 0 else (err.strip() or out.strip() or f"{change['argv'][0]} exited {rc}")
    return system.write(change["path"], change["text"] + "\n")


NOT_SUPPORTED_RE = re.compile(r"not supported|EOPNOTSUPP", re.IGNORECASE)


def _driver_refused(change: dict, err: str) -> bool:
    """An ethtool change the driver turns down (EOPNOTSUPP, or EINVAL for a value it cannot do) is a
    capability the NIC lacks; a refused write to sysfs or /proc is a failure."""
    return change.get("argv", [""])[0] == "ethtool" or bool(NOT_SUPPORTED_RE.search(err))


def run(system, wanted: dict, host: str, check_mode: bool) -> dict:
    """Validate, plan, apply (unless check mode), verify. Raises NicError on bad input or a required gap."""
    ifname = wanted["interface"]
    sysctl_names = sorted(set(wanted.get("sysctls") or {}) | {"net.core.default_qdisc"})
    state = read_state(system, ifname, sysctl_names)
    errors = validate(wanted, state, host)
    if errors:
        raise NicError("; ".join(errors))
    first = plan(wanted, state)

    def check_required(p: Plan):
        missing = required_failures(p, wanted.get("required"))
        if missing:
            raise NicError(
                f"{host}: interface {ifname}: required settings not supported by this NIC/kernel: {', '.join(missing)}"
            )

    check_required(first)
    result = {"changed": bool(first.changes), "changes": [], "warnings": list(first.warnings), "failed_changes": []}
    if check_mode:
        result["changes"] = [_public(c) for c in first.changes]
        result.update(rows=first.rows, unsupported=first.unsupported, state=_summary(state))
        return result
    done, refused = [], Plan()

    def apply_all(changes):
        for change in changes:
            err = apply_change(system, change, ifname)
            if err is None:
                done.append(_public(change))
            elif _driver_refused(change, err):
                refused.unsupported.append(f"{change['setting']} (the driver refused: {err})")
            else:
                result["failed_changes"].append({**_public(change), "error": err})

    stage1 = [c for c in first.changes if c["stage"] == 1]
    apply_all(stage1)
    if stage1:
        state = read_state(system, ifname, sysctl_names)
    second = plan(wanted, state)
    apply_all([c for c in second.changes if c["stage"] == 2])
    check_required(refused)
    final_state = read_state(system, ifname, sysctl_names) if done or refused.unsupported else state
    final = plan(wanted, final_state)
    refused_settings = {u.split(" ")[0] for u in refused.unsupported}
    for change in final.changes:
        if change["setting"] in refused_settings:
            continue
        result["warnings"].append(
            f"{change['setting']}: still {change.get('current')!r} after applying, wanted {change.get('wanted')!r}"
        )
    result["changes"] = done
    result["changed"] = bool(done)
    result.update(rows=final.rows, unsupported=final.unsupported + refused.unsupported, state=_summary(final_state))
    # what still differs after applying (the driver refused it, rounded it, or it did not stick)
    result["unmet"] = sorted({r["setting"] for r in final.rows if r["status"] == "change"})
    return result


def _public(change: dict) -> dict:
    return {k: v for k, v in change.items() if k in {"setting", "current", "wanted", "argv", "path", "text"}}


def _summary(state: dict) -> dict:
    keep = ("interface", "driver", "device", "mtu", "rings", "channels", "coalesce", "qdisc", "cpus", "rfs_entries")
    out = {k: state.get(k) for k in keep}
    out["features"] = {short: state["features"].get(name, {}).get("on") for short, name in FEATURES.items()}
    out["irqs"] = [{k: e[k] for k in ("irq", "queue", "name", "affinity", "hint")} for e in state.get("irqs", [])]
    return out


def format_table(host: str, ifname: str, rows: list[dict]) -> str:
    """Report mode: one line per setting, current against wanted."""

    def show(v):
        if isinstance(v, dict):
            return json.dumps(v, sort_keys=True, separators=(",", ":"))
        return "-" if v is None else str(v)

    lines = [f"{host} {ifname}", f"{'setting':<40} {'current':<24} {'wanted':<24} status"]
    for r in rows:
        lines.append(f"{r['setting']:<40} {show(r['current']):<24} {show(r['wanted']):<24} {r['status']}")
    return "\n".join(lines)
