"""nckv (figure 7's load generator) against servers in a network namespace of its own: Debian's
redis-server (redis-tools' multi-call binary), one that answers errors (out of memory), and fake
servers that answer what is not RESP or nothing at all. Everything runs on 127.0.0.1 inside
`unshare -n`: no traffic leaves the namespace."""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "module_src"
REDIS = "/usr/bin/redis-check-rdb"  # redis-tools: redis-server when started by that name
PORT = 7379

_spec = importlib.util.spec_from_file_location(
    "nc_results", REPO / "plugins" / "module_utils" / "netchannel_results.py"
)
res = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(res)


@pytest.fixture(scope="module")
def nckv(tmp_path_factory):
    for need in ("unshare", "make", "cc"):
        assert shutil.which(need), f"{need} not installed"
    assert os.path.exists(REDIS), f"{REDIS} missing: apt install redis-tools (tools/bootstrap.py does)"
    build = tmp_path_factory.mktemp("nckv")
    proc = subprocess.run(
        ["make", "-s", "-C", str(SRC), f"BUILD={build}", f"{build}/nckv"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    server = build / "redis-server"
    server.symlink_to(REDIS)
    return build


def _in_netns(tmp: Path, server: str, client: str, after: str = "", wait: bool = True) -> subprocess.CompletedProcess:
    """Start `server` in a fresh network namespace, wait for its port, run `client`, then `after`
    (its output on fd 3, in after.txt); the server is stopped by its PID."""
    script = textwrap.dedent(f"""\
        set -u
        ip link set lo up
        {server} &
        spid=$!
        for i in $(seq {100 if wait else 0}); do
            (exec 9<>/dev/tcp/127.0.0.1/{PORT}) 2>/dev/null && break
            sleep 0.05
        done
        {client}
        rc=$?
        {after}
        kill $spid; wait $spid 2>/dev/null
        exit $rc
        """)
    return subprocess.run(
        ["unshare", "-n", "bash", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp, check=False
    )


def _redis(build: Path, *extra: str) -> str:
    opts = f"--bind 127.0.0.1 --port {PORT} --save '' --appendonly no --daemonize no --logfile redis.log"
    return f"{build}/redis-server {opts} {' '.join(extra)}"


def _fake(reply: str) -> str:
    """A server that answers `reply` (a Python literal) to every read, one connection after the other
    (the first is the readiness probe's)."""
    code = (
        "import socket\n"
        f"s = socket.create_server(('127.0.0.1', {PORT}))\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    while c.recv(65536):\n"
        f"        c.sendall({reply})\n"
        "    c.close()\n"
    )
    return f"python3 -c {shlex.quote(code)}"


def test_figure_7_load_against_redis(nckv, tmp_path):
    client = f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 3 -T 2 -D 4 -k 300 -d 1000 -l 0.5 -w 0.2 --seed 7"
    after = (
        f"redis-cli -p {PORT} dbsize > after.txt; redis-cli -p {PORT} strlen key:0000000299 >> after.txt;"
        f" redis-cli -p {PORT} strlen key:0000000300 >> after.txt"
    )
    proc = _in_netns(tmp_path, _redis(nckv), client, after)
    assert proc.returncode == 0, proc.stderr
    doc = res.parse_nckv(proc.stdout, "nckv")
    m = res.metrics_of("nckv", doc, "nckv")
    opts, r = doc["options"], doc["results"]
    assert (opts["conns"], opts["threads"], opts["depth"], opts["keys"], opts["seed"]) == (3, 2, 4, 300, 7)
    assert r["requests"] > 0
    assert r["get_misses"] == 0
    assert r["get_hits"] == r["gets"]
    assert 0.8 < m["get_share"] <= 1
    # every key of the space was filled with a value of the asked size, and none beyond it
    assert (tmp_path / "after.txt").read_text().split() == ["300", "1000", "0"]


def test_error_reply_stops_the_run_naming_it(nckv, tmp_path):
    client = f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 2 -D 8 -k 1024 -l 0.5 -w 0"
    proc = _in_netns(tmp_path, _redis(nckv, "--maxmemory 1mb --maxmemory-policy noeviction"), client)
    assert proc.returncode == 1
    assert "the server answered SET with an error: OOM command not allowed" in proc.stderr
    assert "# results" not in proc.stdout


@pytest.mark.parametrize(
    ("reply", "want"),
    [
        (r"b'*1\r\n'", "byte 0x2a where a reply starts (an array: not a GET or SET reply)"),
        (r"b'+QUEUED\r\n' * 64", "SET answered '+QUEUED', want +OK"),
        (r"b'$3\r\nabc\r\n' * 64", "SET answered '$'"),
    ],
)
def test_replies_that_are_not_the_answer_stop_the_run(nckv, tmp_path, reply, want):
    proc = _in_netns(tmp_path, _fake(reply), f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 1 -k 10 -l 0.5 -w 0")
    assert proc.returncode == 1
    assert f"nckv: error: connection 0: {want}" in proc.stderr, proc.stderr


def test_silent_server_times_out_naming_the_connection(nckv, tmp_path):
    proc = _in_netns(tmp_path, _fake("b''"), f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 1 -k 10 -l 0.5 -w 0 --timeout 0.5")
    assert proc.returncode == 1
    assert "connection 0: no reply for" in proc.stderr, proc.stderr
    assert "(--timeout)" in proc.stderr


def test_connect_timeout_is_named(nckv, tmp_path):
    # a listener that never accepts, its queue filled by the readiness probe: SYNs are dropped
    code = f"import socket, time\ns = socket.create_server(('127.0.0.1', {PORT}), backlog=0)\ntime.sleep(30)\n"
    proc = _in_netns(
        tmp_path, f"python3 -c {shlex.quote(code)}", f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 1 -l 0.5 --timeout 0.5"
    )
    assert proc.returncode == 1
    assert f"connect to 127.0.0.1 port {PORT}: no answer within --timeout" in proc.stderr, proc.stderr


def test_no_server_is_an_error_naming_the_address(nckv, tmp_path):
    proc = _in_netns(tmp_path, "true", f"{nckv}/nckv -H 127.0.0.1 -p {PORT} -c 1 -l 0.5", wait=False)
    assert proc.returncode == 1
    assert f"connect to 127.0.0.1 port {PORT}: Connection refused" in proc.stderr
