# SPDX-License-Identifier: GPL-2.0-only
"""Pure logic of the netchannel_module role: the host table, validation, /proc/net/netchannel.

No Ansible imports: the modules and the filter plugin call these functions, and
tests/unit/test_netchannel_module_utils.py tests them directly.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import ipaddress
import os
import re
import tempfile

# Limits of the module (module_src/netchannel/nc_hostcfg.h).
MAX_PEERS = 32
MAX_CLASS_CHANNELS = 16
MAX_CPUS = 256
MAX_TABLE_LEN = 1024

# net.netchannel.* sysctls a profile may set, with their ranges (module_src/netchannel/nc_main.c).
SYSCTL_RANGES = {
    "connect_timeout_ms": (1, 3600000),
    "chan_wait_ms": (0, 3600000),
    "retry_min_ms": (1, 3600000),
    "retry_max_ms": (1, 3600000),
    "latency_priority": (0, 7),
    "default_window": (4096, 1 << 30),
    "debug": (0, 1),
    "keepalive_time_s": (1, 32767),
    "keepalive_intvl_s": (1, 32767),
    "keepalive_probes": (1, 127),
    "user_timeout_ms": (0, 3600000),
    "hello_timeout_ms": (100, 60000),
    "max_pending_per_peer": (0, 1024),
    "latency_dscp": (0, 63),
    "stripe": (0, 1),
    "drr": (0, 1),
    "bulk_notsent_lowat": (0, 1 << 30),
    "reset_rate": (1, 1000000),
}

_DOTTED_QUAD = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")


# ---------------------------------------------------------------- addresses


def ipv4_problem(value) -> str | None:
    """Why `value` cannot be a NetChannel data address, or None if it can."""
    text = str(value) if value is not None else ""
    if not _DOTTED_QUAD.match(text) or any(int(p) > 255 for p in text.split(".")):
        return "is not a dotted-quad IPv4 address"
    addr = ipaddress.IPv4Address(text)
    if int(addr) >> 24 == 0:
        return "is in 0.0.0.0/8"
    if addr.is_loopback:
        return "is a loopback address"
    if addr.is_multicast:
        return "is a multicast address"
    if int(addr) >> 28 == 0xF:
        return "is in 240.0.0.0/4 (reserved or broadcast)"
    return None


def parse_cpu_list(text: str) -> list[int]:
    """'0-2,5' -> [0, 1, 2, 5]; raises ValueError naming the bad part."""
    cpus: set[int] = set()
    text = str(text)
    if text == "":
        return []
    for part in text.split(","):
        m = re.fullmatch(r"(\d+)(?:-(\d+))?", part)
        if not m:
            raise ValueError(f"'{part}' is not N or N-M")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ValueError(f"'{part}' is a descending range")
        cpus.update(range(lo, hi + 1))
    return sorted(cpus)


def host_table(local: str, peers: list[str], *, bulk: int, lat: int, port: int, cpus: str) -> str:
    """The module's host table string (the hosts= parameter and NC_HOSTS_CONFIG)."""
    return f"local={local};peers={','.join(peers)};bulk={int(bulk)};lat={int(lat)};port={int(port)};cpus={cpus}"


# ---------------------------------------------------------------- validation


def _int_in(value, lo: int, hi: int) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(str(value), 10)
    except (TypeError, ValueError):
        return None
    return number if lo <= number <= hi else None


def validate_host(name: str, cfg: dict, group: dict[str, dict]) -> list[str]:
    """Problems with one host's settings; each names host, variable and value.

    cfg: ip, interface, prefix (None: read from the host), peers (inventory names),
         bulk, lat, port, cpus, group_name, and `info` (what netchannel_module_info read on the host:
         interface_exists, addresses [{address, prefixlen}], cpu_count) or None.
    group: every member of the NetChannel group -> {"ip": its data address}.
    """
    errors: list[str] = []

    def bad(var: str, value, why: str) -> None:
        errors.append(f"{name}: {var}={value!r} {why}")

    ip = cfg.get("ip")
    problem = ipv4_problem(ip)
    if problem:
        bad("netchannel_module_data_ip", ip, problem)
    iface = cfg.get("interface") or ""
    if not iface:
        bad("netchannel_module_data_interface", iface, "is empty (set netchannel_data_interface for this host)")
    bulk = _int_in(cfg.get("bulk"), 1, MAX_CLASS_CHANNELS)
    if bulk is None:
        bad("netchannel_module_bulk_channels", cfg.get("bulk"), f"is not an integer in 1..{MAX_CLASS_CHANNELS}")
    if _int_in(cfg.get("lat"), 0, MAX_CLASS_CHANNELS) is None:
        bad("netchannel_module_lat_channels", cfg.get("lat"), f"is not an integer in 0..{MAX_CLASS_CHANNELS}")
    if _int_in(cfg.get("port"), 1, 65535) is None:
        bad("netchannel_module_port", cfg.get("port"), "is not an integer in 1..65535")
    prefix = cfg.get("prefix")
    if prefix not in (None, "") and _int_in(prefix, 1, 32) is None:
        bad("netchannel_module_data_prefix", prefix, "is not an integer in 1..32")
        prefix = None

    for key, value in sorted((cfg.get("sysctls") or {}).items()):
        if key not in SYSCTL_RANGES:
            bad("netchannel_module_sysctls", {key: value}, f"names no known sysctl ({', '.join(SYSCTL_RANGES)})")
        elif _int_in(value, *SYSCTL_RANGES[key]) is None:
            lo, hi = SYSCTL_RANGES[key]
            bad("netchannel_module_sysctls", {key: value}, f"is not an integer in {lo}..{hi}")

    if cfg.get("needs_reload") and int(cfg.get("open_sockets") or 0) > 0 and not cfg.get("allow_drain"):
        bad(
            "netchannel_module_allow_drain",
            False,
            f"and the module must be reloaded for the new table or build while {cfg['open_sockets']} "
            "NetChannel socket(s) are open: close them, or allow draining",
        )

    info = cfg.get("info") or {}
    cpu_count = info.get("cpu_count")
    cpus = cfg.get("cpus")
    if cpus not in (None, ""):
        try:
            listed = parse_cpu_list(cpus)
        except ValueError as exc:
            bad("netchannel_module_cpus", cpus, f"is not a CPU list: {exc}")
        else:
            limit = min(cpu_count, MAX_CPUS) if cpu_count else MAX_CPUS
            beyond = [c for c in listed if c >= limit]
            if beyond:
                why = f"has {cpu_count} CPUs (0-{cpu_count - 1})" if cpu_count else f"module accepts CPUs < {MAX_CPUS}"
                bad("netchannel_module_cpus", cpus, f"names CPU {beyond[0]} but the host {why}")

    # The data interface on the host, and the address inside its subnet.
    if iface and info and not problem:
        if not info.get("interface_exists"):
            bad("netchannel_module_data_interface", iface, "does not exist on the host")
        else:
            addrs = info.get("addresses") or []
            held = [a for a in addrs if a["address"] == ip]
            if not held:
                shown = ", ".join(f"{a['address']}/{a['prefixlen']}" for a in addrs) or "no IPv4 address"
                bad("netchannel_module_data_ip", ip, f"is not an address of {iface} on the host (it has {shown})")
            elif prefix not in (None, "") and int(prefix) != held[0]["prefixlen"]:
                bad(
                    "netchannel_module_data_prefix",
                    prefix,
                    f"differs from {iface}'s prefix on the host ({ip}/{held[0]['prefixlen']})",
                )

    # Peers: members of the group, with valid and distinct addresses.
    peers = cfg.get("peers") or []
    group_name = cfg.get("group_name", "netchannel")
    for peer in peers:
        if peer == name:
            continue
        if peer not in group:
            bad("netchannel_module_peers", peer, f"is not a member of group '{group_name}'")
        elif ipv4_problem(group[peer].get("ip")):
            bad(
                "netchannel_module_peers",
                peer,
                f"has no valid netchannel_data_ip ({group[peer].get('ip')!r} {ipv4_problem(group[peer].get('ip'))})",
            )
    remote = [p for p in dict.fromkeys(peers) if p != name]
    if len(remote) > MAX_PEERS:
        bad("netchannel_module_peers", f"{len(remote)} hosts", f"is more than the module accepts ({MAX_PEERS})")
    if not errors:
        peer_ips = [group[p]["ip"] for p in remote]
        table = host_table(ip, peer_ips, bulk=cfg["bulk"], lat=cfg["lat"], port=cfg["port"], cpus=cpus or "")
        if len(table) > MAX_TABLE_LEN:
            bad("netchannel_module_peers", f"{len(remote)} hosts", f"give a host table over {MAX_TABLE_LEN} characters")
    return errors


def group_addresses(members: list[str], own: list, inventory: list) -> dict[str, dict]:
    """Every group member -> {"ip": ...}: the address it uses in this play if it runs, else its inventory one."""
    return {m: {"ip": str(o) if o else str(i or "")} for m, o, i in zip(members, own, inventory, strict=True)}


def validate_all(hosts: dict[str, dict], group: dict[str, dict]) -> list[str]:
    """Problems of every host of the play (see validate_host), and addresses used twice in the group."""
    errors: list[str] = []
    owners: dict[str, list[str]] = {}
    for member, v in group.items():
        if v.get("ip"):
            owners.setdefault(str(v["ip"]), []).append(member)
    for name in sorted(hosts):
        errors += validate_host(name, hosts[name], group)
        ip = str(hosts[name].get("ip"))
        others = sorted(n for n in owners.get(ip, []) if n != name)
        if others:
            errors.append(f"{name}: netchannel_module_data_ip={ip!r} is also the data address of {', '.join(others)}")
    return errors


# ---------------------------------------------------------------- /proc/net/netchannel

_CONFIG_RE = re.compile(
    r"^netchannel wire_version (?P<wire_version>\d+) local (?P<local>\S+) port (?P<port>\d+) "
    r"bulk (?P<bulk>\d+) lat (?P<lat>\d+) peers (?P<peers>\d+)$"
)
_PEER_RE = re.compile(r"^peer (?P<ip>\S+)(?P<self> \(self\))?$")
_TX_RE = re.compile(
    r"^\s+tx\s+(?P<index>\d+) (?P<cls>bulk|latency)\s+(?P<state>\S+)\s+cpu (?P<cpu>-?\d+) "
    r"frames (?P<frames>\d+) bytes (?P<bytes>\d+) queued (?P<queued>\d+) connects (?P<connects>\d+) "
    r"fails (?P<fails>\d+) last_err (?P<last_err>-?\d+)"
    r"(?: queued_bytes (?P<queued_bytes>\d+))?(?: notsent_bytes (?P<notsent_bytes>\d+))?"
    r"(?: flows (?P<flows>\d+) turns (?P<turns>\d+))?$"
)
_RX_RE = re.compile(
    r"^rx id (?P<id>\d+) from (?P<ip>\S+) chan (?P<index>\d+) (?P<cls>bulk|latency) "
    r"frames (?P<frames>\d+) bytes (?P<bytes>\d+)(?P<acks> acks)?(?P<dying> dying)?$"
)
_SOCK_RE = re.compile(r"^sockets hashed (?P<hashed>\d+) ports_in_use (?P<ports>\d+)$")
# receive memory in pages, as net.netchannel.mem (min pressure max)
_MEM_RE = re.compile(r"^mem pages (?P<pages>\d+) pressure (?P<pressure>[01]) limits (?P<limits>\d+ \d+ \d+)$")
# the cluster key's public ids (current first), or "off"; the key itself is never shown
_AUTH_RE = re.compile(r"^auth (?:off|key_id (?P<ids>[0-9a-f]{16}(?: [0-9a-f]{16})*))$")


def parse_proc(text: str) -> dict:
    """/proc/net/netchannel as a dict; raises ValueError on a line it does not know."""
    out: dict = {"config": None, "auth": None, "peers": {}, "rx": [], "sockets": None, "mem": None, "counters": {}}
    peer = None
    cpus: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if m := _CONFIG_RE.match(line):
            out["config"] = {k: (v if k == "local" else int(v)) for k, v in m.groupdict().items()}
        elif m := _AUTH_RE.match(line):
            out["auth"] = m["ids"].split() if m["ids"] else []
        elif m := _PEER_RE.match(line):
            peer = {"ip": m["ip"], "self": bool(m["self"]), "tx": []}
            out["peers"][m["ip"]] = peer
        elif m := _TX_RE.match(line):
            if peer is None:
                raise ValueError(f"line {lineno}: tx line before any peer line: {line!r}")
            # queued_bytes: since striping, notsent_bytes: since bulk_notsent_lowat,
            # flows/turns: since the channels' fair queue (older modules lack them)
            ch = {k: (v if k in ("cls", "state") else int(v)) for k, v in m.groupdict().items() if v is not None}
            peer["tx"].append(ch)
        elif m := _RX_RE.match(line):
            flags = ("acks", "dying")
            rx = {k: (v if k in ("cls", "ip") else int(v)) for k, v in m.groupdict().items() if k not in flags}
            # acks: the peer's HELLO offered acknowledgements (DATA is kept until acknowledged)
            rx.update({k: bool(m[k]) for k in flags})
            out["rx"].append(rx)
        elif m := _SOCK_RE.match(line):
            out["sockets"] = {"hashed": int(m["hashed"]), "ports_in_use": int(m["ports"])}
        elif m := _MEM_RE.match(line):
            out["mem"] = {
                "pages": int(m["pages"]),
                "pressure": m["pressure"] == "1",
                "limits": [int(v) for v in m["limits"].split()],
            }
        elif line.startswith("counter "):
            cpus = line.split()[1:]
        elif cpus and re.fullmatch(r"[a-z_]+( \d+)+", line):
            name, *values = line.split()
            if len(values) != len(cpus):
                raise ValueError(f"line {lineno}: {len(values)} values for {len(cpus)} columns: {line!r}")
            out["counters"][name] = int(values[-1])
        else:
            raise ValueError(f"line {lineno}: not a /proc/net/netchannel line: {line!r}")
    if out["config"] is None:
        raise ValueError("no 'netchannel wire_version ...' line")
    return out


def errno_name(value: int) -> str:
    if value == 0:
        return "0"
    return f"{value} ({errno.errorcode.get(-value, '?')})"


def mesh_state(proc: dict, expected: list[str], inbound: dict | None = None) -> dict:
    """Channel states toward every expected peer address (self included if listed).

    A peer is up when the table holds it, every outbound channel of both classes is `up`, and
    (when `inbound` gives the peer's own channel count, which may differ from ours) at least that
    many live inbound channels come from it. The inbound check catches a peer that rebooted while
    this host still believes its old outbound channels are up: the peer then has none from us.
    """
    cfg = proc["config"]
    want = cfg["bulk"] + cfg["lat"]
    inbound = inbound or {}
    peers = {}
    for ip in expected:
        p = proc["peers"].get(ip)
        rx = [r for r in proc["rx"] if r["ip"] == ip and not r["dying"]]
        want_rx = int(inbound.get(ip, 0))
        if p is None:
            peers[ip] = {"in_table": False, "up": False, "tx": [], "rx": len(rx), "want_rx": want_rx}
            continue
        tx_up = len(p["tx"]) == want and all(c["state"] == "up" for c in p["tx"])
        peers[ip] = {
            "in_table": True,
            "up": tx_up and len(rx) >= want_rx,
            "tx": p["tx"],
            "rx": len(rx),
            "want_rx": want_rx,
        }
    return {"all_up": all(p["up"] for p in peers.values()), "expected_per_peer": want, "peers": peers}


def mesh_table(host: str, mesh: dict) -> str:
    """A per-peer table of channel states and last errors, for a timeout message."""
    lines = [f"{host}: channels per peer (want {mesh['expected_per_peer']} outbound up)"]
    for ip, p in mesh["peers"].items():
        if not p["in_table"]:
            lines.append(f"  peer {ip}: NOT IN THE LOADED TABLE")
            continue
        lines.append(f"  peer {ip}: {'up' if p['up'] else 'NOT UP'}, inbound live {p['rx']} (want {p['want_rx']})")
        for c in p["tx"]:
            lines.append(
                f"    tx {c['index']:>2} {c['cls']:<7} {c['state']:<10} connects {c['connects']} "
                f"fails {c['fails']} last_err {errno_name(c['last_err'])}"
            )
    return "\n".join(lines)


def open_sockets(refcnt: int) -> int:
    """Open NetChannel sockets from the module's reference count.

    A socket holds two references (its proto and its proto_ops belong to the module); a child
    not yet accepted holds one. Measured on the lab: listener 2, + connecting client 5, + accepted 6.
    """
    return (max(int(refcnt), 0) + 1) // 2


# ---------------------------------------------------------------- DKMS

_DKMS_RE = re.compile(
    r"^(?P<name>[^/,\s]+)[/,]\s*(?P<version>[^,:\s]+)(?:,\s*(?P<kernel>[^,\s]+),\s*(?P<arch>[^:\s]+))?:\s*(?P<state>.+)$"
)


def parse_dkms_status(text: str) -> list[dict]:
    """`dkms status` lines (3.x `name/version, kernel, arch: state` and 2.x `name, version, ...`)."""
    found = []
    for line in text.splitlines():
        m = _DKMS_RE.match(line.strip())
        if m:
            found.append({k: (v or "") for k, v in m.groupdict().items()})
    return found


def dkms_plan(entries: list[dict], name: str, version: str, kernel: str) -> dict:
    """What to do so that exactly `version` of `name` is installed for `kernel`."""
    mine = [e for e in entries if e["name"] == name]
    others = sorted({e["version"] for e in mine if e["version"] != version})
    installed = any(
        e["version"] == version and e["kernel"] == kernel and e["state"].startswith("installed") for e in mine
    )
    added = any(e["version"] == version for e in mine)
    return {"remove": others, "add": not added, "install": not installed}


def compiler_id(module) -> str:
    """The compiler a DKMS build on this host uses, as `gcc -v` names it ("gcc version 12.2.0
    (Debian 12.2.0-14)"); "" without gcc. `module` is the running AnsibleModule."""
    gcc = module.get_bin_path("gcc")
    if gcc is None:
        return ""
    _rc, out, err = module.run_command([gcc, "-v"])
    return next((line.strip() for line in (err + out).splitlines() if line.startswith("gcc version")), "")


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:
        return None


def signatures_enforced(root: str = "/") -> bool:
    """Whether the running kernel loads only signed modules: module.sig_enforce, or a lockdown
    (Secure Boot turns it on) other than "[none]"."""
    enforce = _read_bytes(os.path.join(root, "sys", "module", "module", "parameters", "sig_enforce")) or b""
    lockdown = _read_bytes(os.path.join(root, "sys", "kernel", "security", "lockdown")) or b"[none]"
    return enforce.strip() == b"Y" or b"[none]" not in lockdown


def kernel_build_id(release: str, compiler: str, root: str = "/") -> str:
    """What a module built for kernel `release` depends on besides its own sources: the kernel's
    configuration and exported symbols with their CRCs (both in its headers), the compiler, and,
    where the kernel loads only signed modules, the certificate DKMS signs with (a reinstalled host
    has a new one). A kept build of the module is installed only on a host where this matches.
    "" when the headers are not there (nothing can be matched then)."""
    build = os.path.join(root, "lib", "modules", release, "build")
    digest = hashlib.sha256(f"{release}\0{compiler}\0".encode())
    for part in (".config", "Module.symvers"):
        data = _read_bytes(os.path.join(build, part))
        if data is None:
            return ""
        digest.update(part.encode() + b"\0" + data + b"\0")
    if signatures_enforced(root):
        cert = _read_bytes(os.path.join(root, "var", "lib", "dkms", "mok.pub")) or b"(no DKMS certificate)"
        digest.update(b"mok.pub\0" + cert + b"\0")
    return digest.hexdigest()[:20]


# ---- channel authentication (module_src/netchannel/nc_auth.h) ----
AUTH_STAGES = ("old_first", "new_first", "final")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def auth_key_id(key: str) -> str:
    """The public id /proc/net/netchannel shows for a key: HMAC-SHA256(key, "nc-key-id"), 8 bytes."""
    return hmac.new(bytes.fromhex(key), b"nc-key-id", hashlib.sha256).hexdigest()[:16]


def parse_key_file(text: str, where: str) -> list[str]:
    """A cluster key file: the current key, then the previous one while a rotation is under way.

    Raises ValueError naming the file and line, never the key.
    """
    keys = [line.strip().lower() for line in text.splitlines() if line.strip()]
    if not keys or len(keys) > 2:
        raise ValueError(f"{where}: holds {len(keys)} keys; want the current one and at most one previous")
    for n, k in enumerate(keys, 1):
        if not _HEX64.fullmatch(k):
            raise ValueError(f"{where}: key {n} is not 64 hex digits ({len(k)} characters)")
    if len(keys) == 2 and keys[0] == keys[1]:
        return keys[:1]
    return keys


def auth_stage_keys(keys: list[str], stage: str) -> list[str]:
    """What the module gets at each stage of a rotation (current key first).

    old_first: hosts still use the previous key and accept both; new_first: they use the new one and
    accept both; final: the new one only. Without a previous key every stage is the key alone.
    """
    if stage not in AUTH_STAGES:
        raise ValueError(f"stage {stage!r} is not one of {', '.join(AUTH_STAGES)}")
    if len(keys) == 1 or stage == "final":
        return keys[:1]
    return [keys[1], keys[0]] if stage == "old_first" else [keys[0], keys[1]]


def plan_cluster_keys(existing: list[str] | None, user_key: str, rotate: bool, finish: bool, new_key) -> list[str]:
    """The controller's key file after this run (current first, previous second while rotating).

    existing: the file's keys, None when there is none; user_key: the user's own key (vault), or "";
    new_key: makes a fresh key. A user's key that differs from the current one starts a rotation to it;
    rotate starts one to a fresh key unless one is under way already; finish ends one.
    """
    if existing is None:
        return [user_key or new_key()]
    if finish:
        return existing[:1]
    if user_key:
        return existing if existing[0] == user_key else [user_key, existing[0]]
    if rotate and len(existing) == 1:
        return [new_key(), existing[0]]
    return existing


def write_private(path: str, text: str, dir_mode: int) -> None:
    """Write text to path atomically, mode 0600 from the first byte (the directory made with dir_mode)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, mode=dir_mode, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".netchannel-key-")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
