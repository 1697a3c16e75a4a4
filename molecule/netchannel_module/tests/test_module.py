"""netchannel_module on the lab: the loaded module, its mesh, header, shim and wrapper; a transfer
through the wrapper; bad input and change control (each failing or reporting before any change)."""

import hashlib
import hmac
import json
import os
import re
import shlex
import stat
import time
from pathlib import Path

import pytest
import testinfra
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[3]
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")
PLAYBOOK = str(REPO / "playbooks" / "module.yml")
# the role's default cluster key file on the controller (group netchannel)
KEY_FILE = Path.home() / ".config" / "netchannel" / "netchannel.key"
# the role's default directory of kept builds on the controller (netchannel_module_build_cache)
KEPT = Path.home() / ".cache" / "netchannel" / "modules"
testinfra_hosts = ["netchannel"]

HEADER_PROGRAM = r"""
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/netchannel.h>
int main(void) { printf("%d\n", IPPROTO_VIRTUAL_SOCK); return 0; }
"""


def _hosts() -> dict:
    return read_lab_hosts(INVENTORY)


def _vm(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def _proc(host) -> str:
    return host.check_output("cat /proc/net/netchannel")


def _table(vars_: dict, hosts: dict, **over) -> str:
    peers = ",".join(h["netchannel_data_ip"] for n, h in hosts.items() if n != vars_["name"])
    v = {"bulk": 2, "lat": 1, "port": 9000, "cpus": "0-1", **over}
    return (
        f"local={vars_['netchannel_data_ip']};peers={peers};bulk={v['bulk']};lat={v['lat']};"
        f"port={v['port']};cpus={v['cpus']}"
    )


def _state(host) -> tuple[str, str]:
    """What a failed run must leave alone: the loaded table and the DKMS versions."""
    return host.check_output("cat /sys/module/netchannel/parameters/hosts"), host.check_output(
        "ls /var/lib/dkms/netchannel"
    )


@pytest.fixture(name="me")
def fixture_me(host, lab_hosts) -> dict:
    name = host.backend.get_hostname()
    return {"name": name, **lab_hosts[name]}


# ---------------------------------------------------------------- every host


def test_loaded_with_its_own_address_and_table(host, me, lab_hosts):
    cpus = int(host.check_output("nproc --all"))
    first = _proc(host).splitlines()[0]
    ip, npeers = me["netchannel_data_ip"], len(lab_hosts) - 1
    assert first == f"netchannel wire_version 2 local {ip} port 9000 bulk 2 lat 1 peers {npeers}"
    table = host.check_output("cat /sys/module/netchannel/parameters/hosts")
    assert table == _table(me, lab_hosts, cpus=f"0-{cpus - 1}" if cpus > 1 else "0")
    assert host.file("/etc/modprobe.d/netchannel.conf").contains(
        f"^options netchannel hosts={re.escape(table)} auth_required=1$"
    )
    # loaded at boot by its own unit once the data address is up (systemd-modules-load runs too early)
    assert host.service("netchannel.service").is_enabled
    assert not host.file("/etc/modules-load.d/netchannel.conf").exists


def _mesh_problems(text: str, lab_hosts: dict) -> list[str]:
    """What keeps this host's mesh from being whole: every peer's 2 bulk + 1 latency channels up
    outbound, and exactly that many inbound from it (no stale duplicates), each offering
    acknowledgements."""
    problems = []
    for name, peer in lab_hosts.items():
        ip = peer["netchannel_data_ip"]
        block = re.search(rf"^peer {re.escape(ip)}( \(self\))?\n((?:  tx .*\n)+)", text, re.M)
        if not block:
            problems.append(f"no peer {ip} ({name})")
            continue
        states = re.findall(r"^  tx +\d+ (\w+) +(\w+) ", block.group(2), re.M)
        if sorted(states) != sorted([("bulk", "up"), ("bulk", "up"), ("latency", "up")]):
            problems.append(f"outbound to {name}: {states}")
        # " dying" lines (being torn down) do not count; " acks": the peer's HELLO offered
        # acknowledgements, which every module of this version does
        found = re.findall(rf"^rx id \d+ from {re.escape(ip)} chan \d+ (\w+) frames \d+ bytes \d+( acks)?$", text, re.M)
        inbound = [cls for cls, _ in found]
        if sorted(inbound) != ["bulk", "bulk", "latency"]:
            problems.append(f"inbound from {name}: {inbound}")
        elif not all(acks for _, acks in found):
            problems.append(f"inbound from {name}: a HELLO without acknowledgements: {found}")
    return problems


def test_every_peer_channel_up_both_directions(host, me, lab_hosts):
    text = _proc(host)
    assert _mesh_problems(text, lab_hosts) == [], f"{me['name']}:\n{text}"


def _key_id(key: str) -> str:
    return hmac.new(bytes.fromhex(key), b"nc-key-id", hashlib.sha256).hexdigest()[:16]


def test_channels_authenticated_with_the_cluster_key(host, me):
    text = _proc(host)
    key = KEY_FILE.read_text().split()[0]
    assert re.search(rf"^auth key_id {_key_id(key)}$", text, re.M), f"{me['name']}:\n{text}"
    assert _counter(text, "auth_ok") >= 6, text  # at least its 3 channels to the peer and the peer's 3
    for path in ("/etc/netchannel/auth.keys", "/etc/netchannel/auth.key"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), path
    # what the boot unit gives the module: the key it has now
    assert host.file("/etc/netchannel/auth.key").content_string == key + "\n"
    assert host.check_output("cat /sys/module/netchannel/parameters/auth_required") == "Y"
    assert host.file("/proc/sys/net/netchannel/auth_key").mode == 0o200
    # the key is in no file other users can read, on no command line, in no module parameter
    for path in (
        "/etc/modprobe.d/netchannel.conf",
        "/etc/netchannel/sysctl.conf",
        "/etc/systemd/system/netchannel.service",
    ):
        assert key not in host.file(path).content_string, path
    assert key not in host.check_output("cat /sys/module/netchannel/parameters/hosts")


def test_controller_key_file_is_private():
    assert stat.S_IMODE(KEY_FILE.stat().st_mode) == 0o600
    assert stat.S_IMODE(KEY_FILE.parent.stat().st_mode) == 0o700


def test_one_host_on_debians_kernel_one_on_ours(lab_hosts):
    # make test runs netchannel_kernel before this scenario; it leaves the last VM on the NetChannel
    # kernel, so the role is exercised on both kernels at once.
    releases = {n: _vm(n).check_output("uname -r") for n in sorted(lab_hosts)}
    ours = [n for n, r in releases.items() if r.endswith("-netchannel")]
    assert ours, f"{releases} (run the netchannel_kernel scenario first)"
    assert len(ours) < len(releases), releases


def test_built_by_dkms_for_the_running_kernel(host):
    release = host.check_output("uname -r")
    status = host.check_output("dkms status -m netchannel")
    assert re.fullmatch(rf"netchannel/0\.1\.0-g[0-9a-f]{{10}}, {re.escape(release)}, x86_64: installed", status), status
    assert host.check_output("modinfo -F filename netchannel") == f"/lib/modules/{release}/updates/dkms/netchannel.ko"
    # the compiled-in table (the header) is this host's too: the .ko carries it
    table = host.check_output("cat /sys/module/netchannel/parameters/hosts")
    assert host.run(f"grep -c -a -F '{table}' /lib/modules/{release}/updates/dkms/netchannel.ko").stdout.strip() == "1"
    # its source directory is stamped complete (a rerun does not compare it file by file), and holds
    # this host's header and every source the build needs
    version = status.split(",")[0].split("/")[1]
    src = f"/usr/src/netchannel-{version}"
    assert host.file(f"{src}/.netchannel-sources-complete").content_string == f"{version}\n"
    local = dict(kv.split("=", 1) for kv in table.split(";"))["local"]
    assert f'#define NC_HOSTS_LOCAL_IP\t"{local}"' in host.file(f"{src}/netchannel/nc_hosts.h").content_string
    assert host.file(f"{src}/netchannel/Kbuild").exists
    assert host.file(f"{src}/dkms.conf").exists


def test_header_gives_programs_protocol_19(host):
    host.run("rm -rf /tmp/nc_hdr && mkdir /tmp/nc_hdr")
    host.run(f"cat > /tmp/nc_hdr/p.c <<'EOF'\n{HEADER_PROGRAM}\nEOF")
    build = host.run("gcc -Wall -Werror -o /tmp/nc_hdr/p /tmp/nc_hdr/p.c")
    assert build.rc == 0, build.stderr
    assert host.check_output("/tmp/nc_hdr/p") == "19"


def test_shim_and_wrapper_installed(host):
    assert host.file("/usr/local/lib/netchannel/nc_preload.so").is_file
    symbols = host.check_output("nm -D --defined-only /usr/local/lib/netchannel/nc_preload.so")
    for sym in ("socket", "connect", "bind"):
        assert re.search(rf" T {sym}$", symbols, re.M), sym
    assert host.file("/usr/local/bin/netchannel").mode == 0o755
    assert host.check_output("netchannel status").startswith("netchannel wire_version 2 local ")
    assert host.file("/etc/netchannel/sysctl.conf").contains("^net.netchannel.default_window = 4194304$")


# ---------------------------------------------------------------- across hosts (run once)

SERVER = r"""
import hashlib, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 7077)); s.listen(1)
open("/tmp/nc_xfer/ready", "w").close()
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b); n += len(b)
c.sendall(h.hexdigest().encode()); c.close()
print(n, h.hexdigest())
"""

CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], 7077), timeout=120)
s.sendall(open("/tmp/nc_xfer/data", "rb").read()); s.shutdown(socket.SHUT_WR)
print(s.recv(100).decode())
"""


def _counter(text: str, name: str) -> int:
    return int(re.search(rf"^{name} .* (\d+)$", text, re.M).group(1))


def _rx_bytes_from(text: str, ip: str) -> int:
    pattern = rf"^rx id \d+ from {re.escape(ip)} chan \d+ \w+ frames \d+ bytes (\d+)"
    return sum(int(b) for b in re.findall(pattern, text, re.M))


def test_unmodified_program_moves_data_over_netchannel_byte_exact():
    names = sorted(_hosts())
    src, dst = _vm(names[0]), _vm(names[1])
    src_ip, dst_ip = (_hosts()[n]["netchannel_data_ip"] for n in names[:2])
    for vm, prog in ((src, CLIENT), (dst, SERVER)):
        vm.run("rm -rf /tmp/nc_xfer && mkdir /tmp/nc_xfer")
        vm.run(f"cat > /tmp/nc_xfer/prog.py <<'EOF'\n{prog}\nEOF")
    src.check_output("head -c 8388608 /dev/urandom > /tmp/nc_xfer/data")
    want = src.check_output("sha256sum /tmp/nc_xfer/data").split()[0]
    before_tx, before_rx = _proc(src), _proc(dst)
    dst.run("nohup netchannel run --strict python3 /tmp/nc_xfer/prog.py > /tmp/nc_xfer/server.out 2>&1 &")
    for _ in range(60):
        if dst.file("/tmp/nc_xfer/ready").exists:
            break
        time.sleep(1)
    sent = src.run(f"netchannel run --strict python3 /tmp/nc_xfer/prog.py {dst_ip}")
    assert sent.rc == 0, sent.stderr
    assert sent.stdout.strip() == want  # the server's checksum, sent back
    for _ in range(30):
        server = dst.run("cat /tmp/nc_xfer/server.out").stdout.strip()
        if server:
            break
        time.sleep(1)
    assert server == f"8388608 {want}"
    after_tx, after_rx = _proc(src), _proc(dst)
    # the bytes went over NetChannel: its frame counters moved by at least the payload
    assert _counter(after_tx, "tx_bytes") - _counter(before_tx, "tx_bytes") >= 8388608
    assert _rx_bytes_from(after_rx, src_ip) - _rx_bytes_from(before_rx, src_ip) >= 8388608
    assert _counter(after_rx, "conn_accepted") - _counter(before_rx, "conn_accepted") == 1


SSH_OPTS = (
    "-i /tmp/nc_ssh/id -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
)

# What else socket programs do: sendfile(), a half-close answered after it, a non-blocking connect
# polled for POLLOUT and SO_ERROR, MSG_PEEK and MSG_WAITALL, asyncio streams, threads writing with
# writev (500 iovecs), MSG_MORE and TCP_CORK, TIOCOUTQ and FIONREAD, splice() from the socket into a
# pipe, an abortive close (SO_LINGER 0: the server gets ECONNRESET, drops it and carries on), and a
# connect to a port where nothing listens (refused by the peer's module: the socket is NetChannel's).
SOCKET_CALLS = r"""
import asyncio, fcntl, hashlib, os, select, socket, struct, sys, termios, threading, time
srv = (sys.argv[1], 7078)
data = open("/tmp/nc_ssh/data", "rb").read()
want = hashlib.sha256(data).hexdigest()
def reply(s):
    return b"".join(iter(lambda: s.recv(65536), b"")).decode()
s = socket.create_connection(srv, timeout=120)
with open("/tmp/nc_ssh/data", "rb") as f:
    print("sendfile", s.sendfile(f))
s.shutdown(socket.SHUT_WR)
print("reply", reply(s) == f"{len(data)} {want}")
s = socket.socket()
s.setblocking(False)
try:
    s.connect(srv)
except BlockingIOError:
    pass
p = select.poll()
p.register(s, select.POLLOUT)
print("pollout", bool(p.poll(30000)), "so_error", s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR))
s.setblocking(True)
s.sendall(b"x" * 100000)
s.shutdown(socket.SHUT_WR)
peek = s.recv(64, socket.MSG_PEEK | socket.MSG_WAITALL)
print("peek", len(peek), "same", peek == s.recv(64, socket.MSG_WAITALL), "rest", len(reply(s)))
async def streams():
    out = []
    for _ in range(4):
        r, w = await asyncio.open_connection(*srv)
        w.write(b"y" * 50000)
        await w.drain()
        w.write_eof()
        out.append((await r.read()).decode().split()[0])
        w.close()
        await w.wait_closed()
    return out
print("asyncio", asyncio.run(streams()))
def one(i, res):
    s = socket.create_connection(srv, timeout=120)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, i % 2)
    mv = memoryview(data)
    # with a timeout the socket is non-blocking underneath: each call may take less than given
    sent = s.sendmsg([mv[j:j + 1000] for j in range(0, 500000, 1000)])
    sent += s.send(mv[sent:600000], socket.MSG_MORE)
    s.sendall(mv[sent:])
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 0)
    outq = struct.unpack("i", fcntl.ioctl(s, termios.TIOCOUTQ, bytes(4)))[0]
    s.shutdown(socket.SHUT_WR)
    res[i] = (reply(s) == f"{len(data)} {want}", 0 <= outq <= len(data))
res = {}
threads = [threading.Thread(target=one, args=(i, res)) for i in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
print("threads", len(res), sorted(set(res.values())))
s = socket.create_connection(srv, timeout=120)
s.sendall(b"z" * 1000)
s.shutdown(socket.SHUT_WR)
for _ in range(100):
    n = struct.unpack("i", fcntl.ioctl(s, termios.FIONREAD, bytes(4)))[0]
    if n == 69:
        break
    time.sleep(0.1)
r, w = os.pipe()
print("fionread", n, "splice", os.splice(s.fileno(), w, 65536), os.read(r, 5))
s = socket.create_connection(srv, timeout=120)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.sendall(b"q" * 10)
s.close()
s = socket.socket()
try:
    s.connect((sys.argv[1], 7079))
    print("nothing listens: connected")
except OSError as e:
    print("nothing listens:", type(e).__name__, "over", s.getsockopt(socket.SOL_SOCKET, socket.SO_PROTOCOL))
# the RESET and the question may travel on different channels: ask again until it came
for queries in range(1, 21):
    s = socket.create_connection(srv, timeout=120)
    s.shutdown(socket.SHUT_WR)
    answer = reply(s)
    if answer != "resets 0":
        break
    time.sleep(0.5)
print("after linger 0:", answer)
print("queries", queries)
"""

# The hash server: two SO_REUSEPORT listeners and their connections in one edge-triggered epoll, each
# connection answered with its byte count and sha256 once it half-closes; a reset connection is dropped
# and counted, and a connection that sends nothing gets the count.
HASH_SERVER = r"""
import hashlib, select, socket, sys
ep = select.epoll()
listeners, conns, resets = {}, {}, 0
for _ in range(2):
    l = socket.socket()
    l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    l.bind((sys.argv[1], 7078))
    l.listen(64)
    l.setblocking(False)
    ep.register(l.fileno(), select.EPOLLIN | select.EPOLLET)
    listeners[l.fileno()] = l
open("/tmp/nc_ssh/ready", "w").close()
while True:
    events = ep.poll(300)
    if not events:
        break
    for fd, _ in events:
        if fd in listeners:
            while True:
                try:
                    c, _ = listeners[fd].accept()
                except BlockingIOError:
                    break
                c.setblocking(False)
                conns[c.fileno()] = [c, hashlib.sha256(), 0]
                ep.register(c.fileno(), select.EPOLLIN | select.EPOLLET)
            continue
        c, h, n = conns[fd]
        while True:
            try:
                b = c.recv(65536)
            except BlockingIOError:
                break
            except ConnectionResetError:
                b = None
                resets += 1
            if not b:
                ep.unregister(fd)
                del conns[fd]
                if b is not None:
                    c.setblocking(True)
                    # a connection that sent nothing asks how many were reset
                    c.sendall((f"{n} {h.hexdigest()}" if n else f"resets {resets}").encode())
                c.close()
                break
            h.update(b)
            n = conns[fd][2] = n + len(b)
"""


def _wait_for(vm, path: str) -> None:
    for _ in range(60):
        if vm.file(path).exists:
            return
        time.sleep(1)
    raise AssertionError(f"{path} did not appear")


def test_openssh_and_socket_calls_over_netchannel():
    """Programs nobody here wrote: Debian's sshd, ssh and scp through the wrapper (sshd forks and re-executes
    itself with the accepted socket), and a program using sendfile, a non-blocking connect, MSG_PEEK and asyncio.
    Byte-exact, over NetChannel (its accept counter moves, no TCP socket on the ports), and each server is stopped
    by its pid."""
    names = sorted(_hosts())
    cli, srv = _vm(names[0]), _vm(names[1])
    srv_ip = _hosts()[names[1]]["netchannel_data_ip"]
    for vm in (cli, srv):
        vm.run("rm -rf /tmp/nc_ssh && mkdir -m 700 /tmp/nc_ssh")
    cli.check_output("ssh-keygen -q -t ed25519 -N '' -f /tmp/nc_ssh/id")
    srv.check_output("ssh-keygen -q -t ed25519 -N '' -f /tmp/nc_ssh/hostkey")
    srv.run(f"cat > /tmp/nc_ssh/authorized_keys <<'EOF'\n{cli.check_output('cat /tmp/nc_ssh/id.pub')}\nEOF")
    srv.run(f"cat > /tmp/nc_ssh/hash.py <<'EOF'\n{HASH_SERVER}\nEOF")
    cli.run(f"cat > /tmp/nc_ssh/calls.py <<'EOF'\n{SOCKET_CALLS}\nEOF")
    cli.check_output("head -c 8388608 /dev/urandom > /tmp/nc_ssh/data")
    want = cli.check_output("sha256sum /tmp/nc_ssh/data").split()[0]
    before = _proc(srv)
    srv.check_output(
        "mkdir -p /run/sshd && netchannel run --strict --ports 2222 /usr/sbin/sshd -p 2222 "
        f"-o ListenAddress={srv_ip} -o PidFile=/tmp/nc_ssh/sshd.pid -o HostKey=/tmp/nc_ssh/hostkey "
        "-o AuthorizedKeysFile=/tmp/nc_ssh/authorized_keys -o StrictModes=no -o PasswordAuthentication=no "
        "-E /tmp/nc_ssh/sshd.log"
    )
    srv.run(
        "nohup netchannel run --strict --ports 7078 python3 /tmp/nc_ssh/hash.py "
        f"{srv_ip} > /tmp/nc_ssh/hash.out 2>&1 & echo $! > /tmp/nc_ssh/hash.pid"
    )
    try:
        _wait_for(srv, "/tmp/nc_ssh/sshd.pid")
        _wait_for(srv, "/tmp/nc_ssh/ready")
        assert srv.run("ss -Htln '( sport = :2222 or sport = :7078 )'").stdout.strip() == ""
        wrap = "netchannel run --strict --ports 2222"
        piped = cli.run(f"{wrap} ssh {SSH_OPTS} -p 2222 root@{srv_ip} sha256sum < /tmp/nc_ssh/data")
        assert piped.rc == 0, piped.stderr + srv.run("cat /tmp/nc_ssh/sshd.log").stdout
        assert piped.stdout.split()[0] == want
        copied = cli.run(f"{wrap} scp {SSH_OPTS} -P 2222 /tmp/nc_ssh/data root@{srv_ip}:/tmp/nc_ssh/copy")
        assert copied.rc == 0, copied.stderr
        assert srv.check_output("sha256sum /tmp/nc_ssh/copy").split()[0] == want
        calls = cli.run(f"netchannel run --strict --ports 7078,7079 python3 /tmp/nc_ssh/calls.py {srv_ip}")
        assert calls.rc == 0, calls.stderr
        lines = calls.stdout.splitlines()
        queries = int(lines.pop().removeprefix("queries "))
        assert lines == [
            "sendfile 8388608",
            "reply True",
            "pollout True so_error 0",
            "peek 64 same True rest 7",
            "asyncio ['50000', '50000', '50000', '50000']",
            "threads 6 [(True, True)]",
            "fionread 69 splice 69 b'1000 '",
            "nothing listens: ConnectionRefusedError over 19",
            "after linger 0: resets 1",
        ]
        # ssh, scp; sendfile, non-blocking connect, 4 asyncio streams, 6 threads, splice, linger 0, the queries
        accepted = _counter(_proc(srv), "conn_accepted") - _counter(before, "conn_accepted")
        assert accepted == 2 + 1 + 1 + 4 + 6 + 1 + 1 + queries, accepted
    finally:
        srv.run("test -s /tmp/nc_ssh/sshd.pid && kill $(cat /tmp/nc_ssh/sshd.pid)")
        srv.run("test -s /tmp/nc_ssh/hash.pid && kill $(cat /tmp/nc_ssh/hash.pid)")


def test_bench_tool_installed_and_measures_both_protocols():
    # ncbench from the role, between the two VMs: over NetChannel and over TCP, the two ends
    # counted the same bytes (bytes_agree), and the NetChannel run moved its bytes on the channels.
    names = sorted(_hosts())
    cli, srv = _vm(names[0]), _vm(names[1])
    srv_ip = _hosts()[names[1]]["netchannel_data_ip"]
    for vm in (cli, srv):
        assert vm.file("/usr/local/bin/ncbench").mode == 0o755
        assert vm.check_output("ncbench --version").startswith("ncbench ")
        # figure 7's load generator beside it; bad input is an error naming the value, exit 2
        assert vm.file("/usr/local/bin/nckv").mode == 0o755
        assert vm.check_output("nckv --version").startswith("nckv ")
        bad = vm.run("nckv -H 198.18.0.1 --get-ratio 2")
        assert bad.rc == 2, (bad.rc, bad.stderr)
        assert "--get-ratio '2'" in bad.stderr
        # how they were built and from which sources: a rerun with the same record copies nothing
        build = vm.file("/usr/local/lib/netchannel/bench/BUILD").content_string
        assert re.fullmatch(
            r"gcc -std=gnu11 .* -o /usr/local/bin/ncbench .* -o /usr/local/bin/nckv .* sources [0-9a-f]{40}", build
        ), build
    srv.run("rm -f /tmp/ncbench.pid; nohup ncbench -s > /tmp/ncbench-server.out 2>&1 & echo $! > /tmp/ncbench.pid")
    try:
        for protocol in ("netchannel", "tcp"):
            before = _proc(cli)
            run = cli.run(f"ncbench -c {srv_ip} -p {protocol} -W stream -B 64K -w 1 -l 2 --timeout 20")
            assert run.rc == 0, (protocol, run.stdout[-2000:], run.stderr)
            out = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line and " " not in line)
            assert out["protocol"] == protocol, out
            assert out["bytes_agree"] == "yes", out
            assert int(out["window_tx_bytes"]) > 0, out
            grew = _counter(_proc(cli), "tx_bytes") - _counter(before, "tx_bytes")
            if protocol == "netchannel":
                assert grew >= int(out["tx_bytes"]), (grew, out["tx_bytes"])
            else:
                assert grew < int(out["tx_bytes"]), (grew, out["tx_bytes"])
    finally:
        srv.run("kill $(cat /tmp/ncbench.pid)")


# ---------------------------------------------------------------- bad input and change control


def _run(ansible, *extra, inventories=()):
    return ansible("ansible-playbook", PLAYBOOK, *extra, inventories=inventories)


def test_bad_input_fails_before_any_change(ansible, tmp_path):
    # One run, three mistakes: every one is reported, each naming host, variable and value.
    names = sorted(_hosts())
    a, b = names[0], names[1]
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "netchannel:\n  vars:\n    netchannel_module_build_cache: kept/builds\n"
        f"  hosts:\n    {a}:\n      netchannel_data_ip: 'fe80::1'\n"
        f"    {b}:\n      netchannel_data_interface: nope0\n      netchannel_module_cpus: 0-63\n"
    )
    before = {n: _state(_vm(n)) for n in names}
    proc = _run(ansible, inventories=[bad])
    assert proc.returncode != 0
    for expected in (
        f"{a}: netchannel_module_data_ip='fe80::1' is not a dotted-quad IPv4 address",
        f"{b}: netchannel_module_data_interface='nope0' does not exist on the host",
        f"{b}: netchannel_module_cpus='0-63' names CPU ",
        "netchannel_module_build_cache='kept/builds' is not an absolute path on the controller",
    ):
        assert expected in proc.output, proc.output[-3000:]
    assert "Traceback" not in proc.output
    assert {n: _state(_vm(n)) for n in names} == before


def test_duplicate_address_fails_before_any_change(ansible, tmp_path):
    names = sorted(_hosts())
    a, b = names[0], names[1]
    ip = _hosts()[a]["netchannel_data_ip"]
    dup = tmp_path / "dup.yml"
    dup.write_text(f"netchannel:\n  hosts:\n    {b}:\n      netchannel_data_ip: {ip}\n")
    before = {n: _state(_vm(n)) for n in names}
    proc = _run(ansible, inventories=[dup])
    assert proc.returncode != 0
    assert f"{a}: netchannel_module_data_ip='{ip}' is also the data address of {b}" in proc.output, proc.output[-3000:]
    assert {n: _state(_vm(n)) for n in names} == before


def _task_result(output: str, task: str, host: str) -> str:
    m = re.search(rf"TASK \[[^\]]*{re.escape(task)}[^\]]*\][^\n]*\n((?:(?!TASK \[).*\n)*)", output)
    assert m, f"no task {task!r} in the output"
    found = re.search(rf"^(ok|changed|skipping|fatal): \[{re.escape(host)}\]", m.group(1), re.M)
    return found.group(1) if found else ""


def test_check_mode_reports_a_reload_only_where_the_table_changes(ansible, tmp_path):
    names = sorted(_hosts())
    a, b = names[0], names[1]
    one = tmp_path / "one.yml"
    one.write_text(f"netchannel:\n  hosts:\n    {b}:\n      netchannel_module_bulk_channels: 1\n")
    before = {n: _state(_vm(n)) for n in names}
    proc = _run(ansible, "--check", inventories=[one])
    assert proc.returncode == 0, proc.output[-3000:]
    load = "Load the module, or reload it"
    assert _task_result(proc.output, load, b) == "changed"
    assert _task_result(proc.output, load, a) == "ok"
    assert _task_result(proc.output, "Build and install the module with DKMS", b) == "changed"
    assert _task_result(proc.output, "Build and install the module with DKMS", a) == "ok"
    assert {n: _state(_vm(n)) for n in names} == before


def test_reload_refused_while_sockets_are_open(ansible):
    names = sorted(_hosts())
    vm = _vm(names[0])
    vm.run(
        "nohup python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 19); "
        's.bind(("0.0.0.0", 7078)); s.listen(1); time.sleep(600)\' >/dev/null 2>&1 & echo $! > /tmp/nc_listener.pid'
    )
    try:
        for _ in range(30):
            if vm.check_output("cat /sys/module/netchannel/refcnt") != "0":
                break
            time.sleep(1)
        before = {n: _state(_vm(n)) for n in names}
        proc = _run(ansible, "-e", "netchannel_module_bulk_channels=1")
        assert proc.returncode != 0
        assert (
            f"{names[0]}: netchannel_module_allow_drain=False and the module must be reloaded for the new table or "
            "build while 1 NetChannel socket(s) are open"
        ) in proc.output, proc.output[-3000:]
        assert {n: _state(_vm(n)) for n in names} == before
    finally:
        vm.run("kill $(cat /tmp/nc_listener.pid)")


def test_sysctls_and_the_cluster_key_change_live_without_a_reload(ansible, lab_hosts):
    # One host first: its sysctl changes live and the key rotation stops at its first step (a host of
    # the group is left out). Then the whole group: the sysctl is back, the same rotation goes on and
    # ends. Channels set up with the old key stay up throughout; no key is ever in the output.
    names = sorted(lab_hosts)
    vm = _vm(names[0])
    before = _state(vm)
    loaded = vm.check_output("journalctl -k -b --no-pager | grep -c 'netchannel: loaded' || true")
    old = KEY_FILE.read_text().split()
    assert len(old) == 1, "a rotation was left unfinished"
    downs = {n: _counter(_proc(_vm(n)), "chan_down") for n in names}
    both: list = []
    try:
        # a value the host does not have yet (a run that died before its clean-up may have left 1234)
        wait = 1235 if vm.check_output("cat /proc/sys/net/netchannel/chan_wait_ms") == "1234" else 1234
        extra = {"netchannel_module_sysctls": {"chan_wait_ms": wait}, "netchannel_module_auth_rotate": True}
        proc = _run(ansible, "-v", "--limit", names[0], "-e", json.dumps(extra))
        assert proc.returncode == 0, proc.output[-3000:]
        assert _task_result(proc.output, "Apply the profile's sysctls", names[0]) == "changed"
        assert _task_result(proc.output, "Load the module, or reload it", names[0]) == "ok"
        assert vm.check_output("cat /proc/sys/net/netchannel/chan_wait_ms") == str(wait)
        assert vm.file("/etc/netchannel/sysctl.conf").contains(f"^net.netchannel.chan_wait_ms = {wait}$")
        assert vm.check_output("journalctl -k -b --no-pager | grep -c 'netchannel: loaded' || true") == loaded
        assert _state(vm) == before
        assert "The key rotation stopped after its first step" in proc.output
        both = KEY_FILE.read_text().split()
        assert len(both) == 2
        assert both[1] == old[0]
        # the old key still used, the new one accepted
        assert re.search(rf"^auth key_id {_key_id(old[0])} {_key_id(both[0])}$", _proc(vm), re.M)
    finally:
        restored = _run(ansible, "-v", "-e", "netchannel_module_auth_rotate=true")
        assert restored.returncode == 0, restored.output[-3000:]
    assert vm.check_output("cat /proc/sys/net/netchannel/chan_wait_ms") == "3000"
    new = KEY_FILE.read_text().split()
    assert new == both[:1]
    for secret in (old[0], new[0]):
        assert secret not in proc.output
        assert secret not in restored.output
    for n in names:
        text = _proc(_vm(n))
        assert re.search(rf"^auth key_id {_key_id(new[0])}$", text, re.M), f"{n}:\n{text}"
        assert _mesh_problems(text, lab_hosts) == [], f"{n}:\n{text}"
        assert _counter(text, "chan_down") == downs[n], f"{n}:\n{text}"
        assert _vm(n).file("/etc/netchannel/auth.keys").content_string.split() == new
        assert _vm(n).file("/etc/netchannel/auth.key").content_string.split() == new


def test_site_runs_the_module_stage_alone_by_its_tag(ansible):
    # Every role's argument check runs under any tag: the kernel stage's must render without the
    # build result that its skipped build play would have set.
    proc = ansible("ansible-playbook", str(REPO / "site.yml"), "--tags", "module", "--check")
    assert proc.returncode == 0, proc.output[-3000:]
    assert "TASK [netchannel.deploy.netchannel_module : Load the module, or reload it" in proc.output
    kernel_tasks = re.findall(r"^TASK \[netchannel\.deploy\.netchannel_kernel_\w+ : (.*?)\]", proc.output, re.M)
    assert all(t.startswith("Validating arguments") for t in kernel_tasks), kernel_tasks


def _wait_for_the_mesh(lab_hosts: dict, tries: int = 90) -> dict:
    """Every host's mesh problems once there are none, or after `tries` looks 2 s apart (a peer that
    stayed up must first notice that the old channels are dead)."""
    problems: dict = {}
    for _ in range(tries):
        problems = {n: _mesh_problems(_vm(n).run("cat /proc/net/netchannel").stdout, lab_hosts) for n in lab_hosts}
        problems = {n: p for n, p in problems.items() if p}
        if not problems:
            break
        time.sleep(2)
    return problems


def test_a_plain_modprobe_gets_the_cluster_key_and_the_sysctls(lab_hosts):
    """Whoever loads the module (here a reload by hand, as the experiments role does) goes through
    /etc/modprobe.d/netchannel.conf: the module gets the key (loaded with auth_required=1, it would
    otherwise open no channel) and the sysctls of /etc/netchannel/sysctl.conf (here with one
    value that is not the module's default added for the test)."""
    vm = _vm(sorted(lab_hosts)[-1])
    conf = "/etc/netchannel/sysctl.conf"
    saved = vm.file(conf).content_string
    try:
        vm.check_output(f"echo 'net.netchannel.chan_wait_ms = 2999' >> {conf}")
        vm.check_output("modprobe -r netchannel && modprobe netchannel")
        assert _wait_for_the_mesh(lab_hosts) == {}
        text = _proc(vm)
        key = KEY_FILE.read_text().split()[0]
        assert re.search(rf"^auth key_id {_key_id(key)}$", text, re.M), text
        assert _counter(text, "auth_ok") >= 6, text
        wanted = re.findall(r"^net\.netchannel\.(\w+) = (\S+)$", vm.file(conf).content_string, re.M)
        assert ("chan_wait_ms", "2999") in wanted
        for name, value in dict(wanted).items():
            assert vm.file(f"/proc/sys/net/netchannel/{name}").content_string.strip() == value, name
    finally:
        vm.check_output(f"printf %s {shlex.quote(saved)} > {conf} && sysctl -q -w net.netchannel.chan_wait_ms=3000")


# ---------------------------------------------------------------- a reboot: in netchannel_nic
# The module's boot-time load (netchannel.service after the data address, the cluster key and the
# sysctls from modprobe.d) is checked by netchannel_nic's reboot test, which make test runs next on
# this lab with the module left loaded: one reboot of the first VM serves both roles.


def test_a_changed_channel_count_rebuilds_and_reloads_only_that_host(ansible, lab_hosts, tmp_path):
    # The next test puts the last host back on the converge's table.
    names = sorted(lab_hosts)
    last = names[-1]
    loads = "journalctl -k -b --no-pager | grep -c 'netchannel: loaded' || true"
    before = {n: (_state(_vm(n)), _vm(n).check_output(loads)) for n in names}
    one = tmp_path / "one.yml"
    one.write_text(f"netchannel:\n  hosts:\n    {last}:\n      netchannel_module_bulk_channels: 1\n")
    proc = _run(ansible, inventories=[one])
    assert proc.returncode == 0, proc.output[-3000:]
    for n in names:
        build = _task_result(proc.output, "Build and install the module with DKMS", n)
        load = _task_result(proc.output, "Load the module, or reload it", n)
        assert (build, load) == (("changed", "changed") if n == last else ("ok", "ok")), n
        state, loaded = _state(_vm(n)), _vm(n).check_output(loads)
        if n == last:
            assert "bulk=1;" in state[0], state
            assert state[1] != before[n][0][1], state  # a new DKMS version, the old one removed
            assert int(loaded) == int(before[n][1]) + 1
        else:
            assert (state, loaded) == before[n]
    # every host sees the last one's new count, outbound from it and inbound to the others
    last_ip = lab_hosts[last]["netchannel_data_ip"]
    for n in names:
        text = _proc(_vm(n))
        inbound = re.findall(rf"^rx id \d+ from {re.escape(last_ip)} chan \d+ (\w+) frames", text, re.M)
        assert sorted(inbound) == ["bulk", "latency"], (n, text)
    first = _proc(_vm(last)).splitlines()[0]
    assert " bulk 1 lat 1 " in first, first


def test_a_kept_build_is_installed_instead_of_compiled(ansible, lab_hosts):
    """The last test: the last host goes back from one bulk channel (the test before) to the
    converge's table. That version was built and kept on the controller by the converge (or by an
    earlier run), so DKMS loads the kept binaries (dkms ldtarball) and compiles nothing: no
    make.log. The first host is left alone."""
    names = sorted(lab_hosts)
    last = names[-1]
    vm = _vm(last)
    started = float(vm.check_output("date +%s"))
    proc = _run(ansible)
    assert proc.returncode == 0, proc.output[-3000:]
    for n in names:
        copied = _task_result(proc.output, "Copy the kept build to the host", n)
        build = _task_result(proc.output, "Build and install the module with DKMS", n)
        if n == last:
            # "ok" where the file is still next to the sources from an earlier build
            assert copied in {"ok", "changed"}, (n, copied)
            assert build == "changed", (n, build)
        else:
            assert (copied, build) == ("skipping", "ok"), n
    # DKMS's version directories (kernel-* entries are symbolic links)
    version = vm.check_output("find /var/lib/dkms/netchannel -mindepth 1 -maxdepth 1 -type d -printf '%f'")
    release = vm.check_output("uname -r")
    assert "bulk=2;" in _state(vm)[0]
    assert f"netchannel/{version}, {release}, x86_64: installed" in vm.check_output("dkms status -m netchannel")
    # A compile writes a make.log that starts with the time of the build; the kept tarball brings
    # the one written when it was built (DKMS copies it, so its file time says nothing).
    logs = vm.check_output(f"find /var/lib/dkms/netchannel/{version}/ -name make.log").split()
    assert logs, "no make.log at all: the test cannot tell a kept build from a compile"
    for log in logs:
        built = float(vm.check_output(f'date -d "$(sed -n 2p {log})" +%s'))
        assert built < started, f"compiled during this run, not taken from the kept build: {log}"
    for task in ("Say why a kept build is not used", "Say why the kept build was not used"):
        assert _task_result(proc.output, task, last) == "skipping", task
    # kept where the role says, private: what is there is loaded into the hosts' kernels
    kept = sorted((KEPT / f"netchannel-{version}").glob(f"{release}-*.tar.gz"))
    assert len(kept) == 1, kept
    assert stat.S_IMODE(kept[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(kept[0].parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(KEPT.stat().st_mode) == 0o700
    assert not list(kept[0].parent.glob("*.part"))
