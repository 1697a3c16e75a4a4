"""Starting, stopping and inspecting the lab VMs."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import net
from .config import MGMT_GUEST_IP, MGMT_NET, LabConfig
from .errors import LabError
from .image import Image, make_recipe
from .inventory import build_inventory, down_inventory, ssh_options, write_inventory
from .ports import allocate_ports, port_is_free
from .qemu import base_args, choose_accel
from .util import require_tool, say, tail, widen_cpu_affinity


def mac(prefix: str, index: int) -> str:
    return f"52:54:00:{prefix}:{index >> 8:02x}:{index & 0xFF:02x}"


def guest_config(name: str, index: int, cfg: LabConfig, pubkey: str) -> str:
    """The key=value blob a VM reads from fw_cfg at every boot (see guest/nclab-config.sh)."""
    peers = " ".join(f"{n}={cfg.data_ip(i)}" for i, n in enumerate(cfg.host_names(), 1))
    return (
        "\n".join(
            [
                f"hostname={name}",
                f"mgmt_mac={mac('ff', index)}",
                f"mgmt_ip={MGMT_GUEST_IP}/{MGMT_NET.prefixlen}",
                f"data_mac={mac('c6', index)}",
                f"data_ip={cfg.data_ip(index)}/{cfg.data_subnet.prefixlen}",
                f"ssh_key={pubkey}",
                f"hosts={peers}",
            ]
        )
        + "\n"
    )


def qemu_command(  # noqa: PLR0917 (one call site, every argument distinct)
    accel: str, cfg: LabConfig, name: str, index: int, port: int, vmdir: Path, tap_fds: list[int]
) -> list[str]:
    q = cfg.data_queues
    return [
        *base_args(accel, cfg.memory_mb, cfg.cpus),
        "-name",
        f"{name},process=nclab-{name}",
        "-drive",
        f"file={vmdir / 'disk.qcow2'},format=qcow2,if=virtio,cache=unsafe,discard=unmap",
        "-netdev",
        f"user,id=mgmt,restrict=on,net={MGMT_NET},host={MGMT_NET.network_address + 2},"
        f"dhcpstart={MGMT_GUEST_IP},hostfwd=tcp:127.0.0.1:{port}-:22",
        "-device",
        f"virtio-net-pci,netdev=mgmt,mac={mac('ff', index)},addr=0x3",
        "-netdev",
        f"tap,id=data,fds={':'.join(map(str, tap_fds))},vhost=off",
        "-device",
        f"virtio-net-pci,netdev=data,mac={mac('c6', index)},addr=0x4,mq=on,vectors={2 * q + 2},"
        f"rx_queue_size={cfg.data_rx_queue_size},tx_queue_size={cfg.data_tx_queue_size}",
        "-fw_cfg",
        f"name=opt/nclab/config,file={vmdir / 'config'}",
        "-chardev",
        f"socket,id=ser0,path={vmdir / 'serial.sock'},server=on,wait=off,logfile={vmdir / 'console.log'},logappend=on",
        "-serial",
        "chardev:ser0",
        "-monitor",
        f"unix:{vmdir / 'monitor.sock'},server=on,wait=off",
        "-daemonize",
        "-pidfile",
        str(vmdir / "qemu.pid"),
    ]


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"qemu-system" in cmdline


class Lab:
    def __init__(self, cfg: LabConfig):
        self.cfg = cfg
        self.state = cfg.state_dir
        self.key = self.state / "id_ed25519"
        self.control_dir = Path(f"/tmp/nclab-cm-{os.getuid()}")
        self.netns = f"{cfg.name}-data"

    # ---- state -------------------------------------------------------------
    def vmdir(self, name: str) -> Path:
        return self.state / name

    def load_state(self) -> dict | None:
        path = self.state / "lab.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise LabError(f"lab state {path} is corrupt ({exc})", hint="run `nclab down` to clean up") from None

    def save_state(self, data: dict) -> None:
        (self.state / "lab.json").write_text(json.dumps(data, indent=1))

    def pid(self, name: str) -> int | None:
        try:
            return int((self.vmdir(name) / "qemu.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def host(self, name: str) -> dict:
        state = self.load_state()
        if state is None:
            raise LabError("the lab is not running", hint="start it with `nclab up`")
        for h in state["hosts"]:
            if h["name"] == name:
                return h
        known = ", ".join(h["name"] for h in state["hosts"])
        raise LabError(f"unknown lab host {name!r}; the lab has: {known}")

    def ssh_base(self, port: int, *options: str) -> list[str]:
        """ssh to a lab VM as root; `options` go before the destination."""
        return ["ssh", *ssh_options(self.key, self.control_dir), *options, "-p", str(port), "root@127.0.0.1"]

    # ---- up ----------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self):
        """One nclab command at a time changes a lab: a second `up` while the first still boots the
        VMs would see hosts without their data interface yet, and two `down`s would race."""
        self.state.mkdir(parents=True, exist_ok=True)
        with (self.state / ".lock").open("w") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LabError(
                    f"another nclab command is starting or stopping this lab (state {self.state})",
                    hint="wait for it to finish, then run the command again",
                ) from None
            yield

    def up(self) -> None:
        with self.locked():
            self._up()

    def down(self) -> None:
        with self.locked():
            self._down()

    def _up(self) -> None:
        state = self.load_state()
        if state is not None:
            if len(state["hosts"]) != self.cfg.count:
                raise LabError(
                    f"a lab of {len(state['hosts'])} VMs is running; NCLAB_COUNT/--count asks for {self.cfg.count}",
                    hint="run `nclab down` first",
                )
            if all(pid_alive(self.pid(h["name"])) for h in state["hosts"]):
                say(f"lab already running ({', '.join(h['name'] for h in state['hosts'])}); nothing to do")
                self._write_inventory(state)
                return
            say("some lab VMs are not running; restarting those")
        self._check_socket_paths()
        widened = widen_cpu_affinity()
        if widened:
            say(f"{widened} (the VMs may use every CPU, whatever pinned the caller)")
        require_tool("qemu-img", "qemu-utils")
        require_tool("ssh", "openssh-client")
        self.state.mkdir(parents=True, exist_ok=True)
        self.control_dir.mkdir(mode=0o700, exist_ok=True)
        if not self.key.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "nclab", "-f", str(self.key)], check=True
            )
        image = Image(self.cfg, make_recipe(self.cfg))
        image.ensure()
        accel = choose_accel(self.cfg.accel, image.kernel, self.cfg.cache_dir / "kvm-probe")
        net.ensure_netns(self.netns)
        names = self.cfg.host_names()
        if state is None:
            ports = allocate_ports(len(names), self.cfg.port_range)
            state = {
                "image": image.recipe.key,
                "accel": accel,
                "netns": self.netns,
                "hosts": [
                    {"name": n, "index": i, "port": p, "data_ip": str(self.cfg.data_ip(i))}
                    for i, (n, p) in enumerate(zip(names, ports, strict=True), 1)
                ],
            }
            self.save_state(state)
        pubkey = self.key.with_suffix(".pub").read_text().strip()
        started = []
        for h in state["hosts"]:
            if pid_alive(self.pid(h["name"])):
                continue
            if not port_is_free(h["port"]):
                raise LabError(
                    f"ssh port {h['port']} of {h['name']} is taken by another program",
                    hint="run `nclab down` and `nclab up` to pick new ports",
                )
            self._start_vm(h, image, accel, pubkey)
            started.append(h)
        with ThreadPoolExecutor(max_workers=len(started) or 1) as pool:
            results = list(pool.map(self._wait_ready, started))
        for h, iface in zip(started, results, strict=True):
            h["data_interface"] = iface
        self.save_state(state)
        self._write_inventory(state)
        say(f"lab up: {', '.join(h['name'] for h in state['hosts'])}; inventory {self.cfg.inventory_path}")

    def _check_socket_paths(self) -> None:
        longest = self.vmdir(self.cfg.host_names()[-1]) / "monitor.sock"
        if len(str(longest)) > 100:
            raise LabError(
                f"state directory {self.state} is too deep for unix sockets ({longest})",
                hint="set NCLAB_STATE_DIR to a shorter path",
            )

    def _start_vm(self, h: dict, image: Image, accel: str, pubkey: str) -> None:
        name, index = h["name"], h["index"]
        vmdir = self.vmdir(name)
        vmdir.mkdir(parents=True, exist_ok=True)
        disk = vmdir / "disk.qcow2"
        if not disk.exists():
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image.disk), str(disk)], check=True
            )
        (vmdir / "config").write_text(guest_config(name, index, self.cfg, pubkey))
        fds = net.open_tap(self.netns, f"{name}-d", self.cfg.data_queues)
        cmd = qemu_command(accel, self.cfg, name, index, h["port"], vmdir, fds)
        (vmdir / "qemu.cmd").write_text(" ".join(cmd) + "\n")
        try:
            proc = subprocess.run(cmd, pass_fds=fds, capture_output=True, text=True, check=False)
        finally:
            for fd in fds:
                os.close(fd)
        if proc.returncode != 0:
            raise LabError(f"QEMU failed to start {name} (exit {proc.returncode}): {proc.stderr.strip()}")
        h["started_at"] = time.time()
        say(
            f"{name}: started (pid {self.pid(name)}, ssh 127.0.0.1:{h['port']}, data {h['data_ip']}, "
            f"console {vmdir / 'console.log'})"
        )

    def _wait_ready(self, h: dict) -> str:
        name, port = h["name"], h["port"]
        console = self.vmdir(name) / "console.log"
        t0 = time.monotonic()
        deadline = t0 + self.cfg.boot_timeout
        while time.monotonic() < deadline:
            if not pid_alive(self.pid(name)):
                raise LabError(
                    f"{name}: QEMU exited while booting; console: {console}\n--- console tail ---\n{tail(console)}"
                )
            probe = subprocess.run(
                [
                    *self.ssh_base(port, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"),
                    "ip",
                    "-o",
                    "link",
                ],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if probe.returncode == 0:
                say(f"{name}: ssh answered {time.time() - h['started_at']:.0f}s after start")
                return self._data_interface(name, h["index"], probe.stdout)
            time.sleep(2)
        raise LabError(
            f"{name} did not answer ssh on 127.0.0.1:{port} within {self.cfg.boot_timeout}s "
            f"(NCLAB_BOOT_TIMEOUT); console: {console}\n--- console tail ---\n{tail(console)}"
        )

    @staticmethod
    def _data_interface(name: str, index: int, ip_link: str) -> str:
        want = mac("c6", index)
        for line in ip_link.splitlines():
            if want in line:
                return line.split(":")[1].strip().split("@")[0]
        raise LabError(f"{name}: no interface with the data MAC {want} in the guest")

    def _write_inventory(self, state: dict) -> None:
        inv = build_inventory(state["hosts"], self.key, self.control_dir, self.cfg.data_subnet.prefixlen)
        write_inventory(self.cfg.inventory_path, inv)

    # ---- down --------------------------------------------------------------
    def _down(self) -> None:
        state = self.load_state()
        names = [h["name"] for h in state["hosts"]] if state else []
        names += [p.name for p in self.state.glob("*") if (p / "qemu.pid").exists() and p.name not in names]
        for h in state["hosts"] if state else []:
            subprocess.run(
                [*self.ssh_base(h["port"], "-O", "exit")],
                capture_output=True,
                check=False,
                timeout=15,
            )
        for name in names:
            self._stop_vm(name)
        net.delete_netns(self.netns)
        leftovers = [h["port"] for h in (state["hosts"] if state else []) if not port_is_free(h["port"])]
        write_inventory(self.cfg.inventory_path, down_inventory())
        (self.state / "lab.json").unlink(missing_ok=True)
        if leftovers:
            raise LabError(f"ports still in use after down: {leftovers}")
        say(f"lab down ({', '.join(names) or 'nothing was running'})")

    def _stop_vm(self, name: str) -> None:
        vmdir = self.vmdir(name)
        pid = self.pid(name)
        if pid_alive(pid):
            # QEMU exits cleanly on SIGTERM; SIGKILL only if it has not after 10 s.
            for sig in (signal.SIGTERM, signal.SIGKILL):
                os.kill(pid, sig)
                for _ in range(100):
                    if not pid_alive(pid):
                        break
                    time.sleep(0.1)
                if not pid_alive(pid):
                    break
        for f in ("qemu.pid", "monitor.sock", "serial.sock", "disk.qcow2", "config", "qemu.cmd"):
            (vmdir / f).unlink(missing_ok=True)

    def ensure_inventory(self) -> None:
        if self.cfg.inventory_path.exists():
            return
        state = self.load_state()
        if state is not None and all("data_interface" in h for h in state["hosts"]):
            self._write_inventory(state)
        else:
            write_inventory(self.cfg.inventory_path, down_inventory())

    # ---- status / ssh / console -----------------------------------------------
    def status(self) -> list[dict]:
        state = self.load_state()
        if state is None:
            return []
        rows = []
        for h in state["hosts"]:
            pid = self.pid(h["name"])
            rows.append(
                {
                    **h,
                    "running": pid_alive(pid),
                    "pid": pid,
                    "accel": state.get("accel"),
                    "console": str(self.vmdir(h["name"]) / "console.log"),
                }
            )
        return rows

    def ssh_argv(self, name: str, command: list[str]) -> list[str]:
        h = self.host(name)
        if not pid_alive(self.pid(name)):
            raise LabError(f"lab host {name} is not running", hint="run `nclab up`")
        return [*self.ssh_base(h["port"]), *command]

    def console(self, name: str) -> None:
        self.host(name)
        from .console import attach

        attach(self.vmdir(name) / "serial.sock", name)
