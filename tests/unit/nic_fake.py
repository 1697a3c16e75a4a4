"""A fake host with one NIC for the netchannel_nic engine tests: it renders ethtool/ip/tc output
from a small model and applies the commands and file writes the engine makes to that model."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data" / "nic"


def load_engine():
    name = "netchannel_nic_engine"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "plugins" / "module_utils" / "netchannel_nic.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]


engine = load_engine()


class FakeHost:
    """virtio-net-like by default: 2 queue pairs, rx ring up to 1024, ntuple fixed off, no coalescing."""

    def __init__(self, *, ifname="ens4", cpus=2, max_queues=2, ntuple_fixed=True, rfs=True, coalesce=None):
        self.ifname = ifname
        self.cpus = cpus
        self.max_queues = max_queues
        self.combined = max_queues
        self.mtu, self.max_mtu = 1500, 65535
        self.rings = {"rx": [256, 1024], "tx": [256, 256]}
        self.features = {
            "rx-checksumming": [True, True],
            "tx-checksumming": [True, False],
            "tcp-segmentation-offload": [True, False],
            "generic-segmentation-offload": [True, False],
            "generic-receive-offload": [True, False],
            "large-receive-offload": [False, True],
            "ntuple-filters": [False, ntuple_fixed],
        }
        self.coalesce = coalesce
        self.root_qdisc, self.root_handle, self.children = "mq", "0:", "fq_codel"
        self.sysctl = {
            "net/core/default_qdisc": "fq_codel",
            "kernel/sched_autogroup_enabled": "1",
            "net/ipv4/tcp_rmem": "4096\t131072\t6291456",
        }
        if rfs:
            self.sysctl["net/core/rps_sock_flow_entries"] = "0"
        self.rfs = rfs
        self.queue_files: dict[str, str] = {}
        self.affinity = {}
        self.commands: list[list[str]] = []
        self.writes: list[tuple[str, str]] = []
        self.refuse: dict[str, str] = {}  # argv[0..1] joined -> error text
        self._queues()
        for irq in range(27, 27 + 2 * max_queues):
            self.affinity[irq] = f"0-{cpus - 1}"

    def _queues(self):
        for q in range(self.combined):
            if self.rfs:
                self.queue_files.setdefault(f"rx-{q}/rps_flow_cnt", "0")
            self.queue_files.setdefault(f"rx-{q}/rps_cpus", "0")
            self.queue_files.setdefault(f"tx-{q}/xps_cpus", "0")
        for key in list(self.queue_files):
            if int(key.split("/")[0].split("-")[1]) >= self.combined:
                del self.queue_files[key]

    # -- what the engine calls
    def run(self, argv):  # noqa: PLR0911 (one answer per command the engine may run)
        self.commands.append(list(argv))
        key = " ".join(argv[:2])
        if key in self.refuse:
            return 1, "", self.refuse[key]
        if argv[:2] == ["ethtool", "--json"]:
            return 1, "", "ethtool: bad command line argument(s)"
        if argv[0] == "ethtool":
            return self._ethtool(argv[1], argv[3:])
        if argv[:2] == ["ip", "-d"]:
            return 0, json.dumps([{"ifname": self.ifname, "mtu": self.mtu, "min_mtu": 68, "max_mtu": self.max_mtu}]), ""
        if argv[:4] == ["ip", "link", "set", "dev"]:
            self.mtu = int(argv[6])
            return 0, "", ""
        if argv[:3] == ["tc", "-j", "qdisc"]:
            # As tc prints it: the default root is handle 0: and its children's parents are ":N".
            major = (
                self.root_handle.rstrip(":").replace("0", "", 1) if self.root_handle == "0:" else self.root_handle[:-1]
            )
            out = [{"kind": self.root_qdisc, "handle": self.root_handle, "root": True}]
            out += [{"kind": self.children, "handle": "0:", "parent": f"{major}:{q + 1}"} for q in range(self.combined)]
            return 0, json.dumps(out), ""
        if argv[:3] == ["tc", "qdisc", "del"]:
            return 0, "", ""
        if argv[:3] == ["tc", "qdisc", "replace"]:
            self.root_qdisc, self.root_handle = "mq", argv[argv.index("handle") + 1]
            self.children = self.sysctl["net/core/default_qdisc"]
            return 0, "", ""
        return 127, "", f"unexpected command {argv}"

    def _ethtool(self, flag, args):  # noqa: PLR0911 (one answer per ethtool query or change)
        pairs = dict(zip(args[::2], args[1::2], strict=True))
        if flag == "-g":
            r = self.rings
            return (
                0,
                (
                    f"Ring parameters for {self.ifname}:\nPre-set maximums:\nRX:\t\t{r['rx'][1]}\nRX Mini:\tn/a\n"
                    f"RX Jumbo:\tn/a\nTX:\t\t{r['tx'][1]}\nCurrent hardware settings:\nRX:\t\t{r['rx'][0]}\n"
                    f"RX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t{r['tx'][0]}\n"
                ),
                "",
            )
        if flag == "-l":
            return (
                0,
                (
                    f"Channel parameters for {self.ifname}:\nPre-set maximums:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\n"
                    f"Combined:\t{self.max_queues}\nCurrent hardware settings:\nRX:\t\tn/a\nTX:\t\tn/a\nOther:\t\tn/a\n"
                    f"Combined:\t{self.combined}\n"
                ),
                "",
            )
        if flag == "-k":
            lines = [f"Features for {self.ifname}:"]
            lines += [f"{k}: {'on' if v[0] else 'off'}{' [fixed]' if v[1] else ''}" for k, v in self.features.items()]
            return 0, "\n".join(lines) + "\n", ""
        if flag == "-c":
            if self.coalesce is None:
                return 95, "", "netlink error: Operation not supported"
            return 0, "Coalesce parameters:\n" + "".join(f"{k}: {v}\n" for k, v in self.coalesce.items()), ""
        if flag == "-G":
            for ring, value in pairs.items():
                self.rings[ring][0] = int(value)
            return 0, "", ""
        if flag == "-L":
            self.combined = int(pairs["combined"])
            self._queues()
            return 0, "", ""
        if flag == "-K":
            short = engine.FEATURES
            for name, value in pairs.items():
                feat = self.features[short[name]]
                if feat[1]:
                    return 1, "", f"Could not change any device features ({name})"
                feat[0] = value == "on"
            return 0, "", ""
        if flag == "-C":
            for key, value in pairs.items():
                self.coalesce[key] = value if value in {"on", "off"} else int(value)
            return 0, "", ""
        return 1, "", f"unexpected ethtool {flag}"

    def _files(self):
        base = f"/sys/class/net/{self.ifname}"
        files = {
            f"{base}/mtu": str(self.mtu),
            "/sys/devices/system/cpu/online": f"0-{self.cpus - 1}",
            "/proc/interrupts": self.interrupts(),
        }
        files.update({f"/proc/sys/{k}": v for k, v in self.sysctl.items()})
        files.update({f"{base}/queues/{k}": v for k, v in self.queue_files.items()})
        for irq, aff in self.affinity.items():
            files[f"/proc/irq/{irq}/smp_affinity_list"] = aff
            files[f"/proc/irq/{irq}/affinity_hint"] = "0"
        return files

    def interrupts(self):
        head = "           " + "".join(f"CPU{c:<8}" for c in range(self.cpus))
        lines = [head, "  24:          0          0   PCI-MSI 65536-edge      virtio0-config"]
        for q in range(self.max_queues):
            for i, kind in enumerate(("input", "output")):
                irq = 27 + 2 * q + i
                lines.append(
                    f"  {irq}:         10          0   PCI-MSI {81921 + 2 * q + i}-edge      virtio1-{kind}.{q}"
                )
        return "\n".join(lines) + "\n"

    def read(self, path):
        value = self._files().get(path)
        return None if value is None else value + "\n"

    def write(self, path, text):
        self.writes.append((path, text))
        text = text.strip()
        if path.startswith("/proc/sys/"):
            key = path.removeprefix("/proc/sys/")
            if key not in self.sysctl:
                return "No such file or directory"
            if key == "net/core/rps_sock_flow_entries":
                text = str(engine.round_pow2(int(text)))
            self.sysctl[key] = text
            return None
        m = re.fullmatch(r"/proc/irq/(\d+)/smp_affinity_list", path)
        if m:
            self.affinity[int(m.group(1))] = text
            return None
        prefix = f"/sys/class/net/{self.ifname}/queues/"
        if path.startswith(prefix) and path.removeprefix(prefix) in self.queue_files:
            if path.endswith("rps_flow_cnt"):
                text = str(engine.round_pow2(int(text)))
            if path.endswith("_cpus"):
                text = f"{int(text.replace(',', ''), 16):x}"
            self.queue_files[path.removeprefix(prefix)] = text
            return None
        return "No such file or directory"

    def listdir(self, path):
        base = f"/sys/class/net/{self.ifname}"
        if path == base:
            return ["address", "device", "mtu", "queues"]
        if path == f"{base}/queues":
            return sorted({k.split("/")[0] for k in self.queue_files})
        return None

    def readlink(self, path):
        base = f"/sys/class/net/{self.ifname}"
        if path == f"{base}/device":
            return "/sys/devices/pci0000:00/0000:00:04.0/virtio1"
        if path == f"{base}/device/driver":
            return "/sys/bus/virtio/drivers/virtio_net"
        return None
