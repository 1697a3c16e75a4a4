"""The verdict rules run_vm.py applies to the application lines apps.sh prints."""

from pathlib import Path

import pytest
from pathload import load_file

run_vm = load_file("run_vm", Path(__file__).resolve().parents[2] / "module_src" / "tests" / "vm" / "run_vm.py")

GOOD_CLIENT = """\
NCVM APP iperf3-nc client_rc=0 tcp_sockets=0 nc_tx_bytes=219279143 mbytes=208 mbits=433
NCVM APP iperf3-tcp client_rc=0 tcp_sockets=5 nc_tx_bytes=0 mbytes=619 mbits=1296
NCVM APP redis-nc bench_rc=0 tcp_sockets=0 nc_tx_bytes=195110 commands=2003 roundtrip=ok bench_key=1 \
rps=SET=2544.53,GET=2564.10
NCVM APP redis-tcp bench_rc=0 tcp_sockets=43 nc_tx_bytes=0 commands=2003 roundtrip=ok bench_key=1 \
rps=SET=2631.58,GET=2932.55
NCVM APP nginx-nc put_code=201 get_code=200 get_bytes=1048576 get_bps=20971520 bytes=ok small_ok_conns=200/1 \
nc_tx_bytes=8421376 v6_code=200 v6_nc_tx_bytes=402
NCVM APP nginx-tcp put_code=201 get_code=200 get_bytes=1048576 get_bps=41943040 bytes=ok small_ok_conns=200/1 \
nc_tx_bytes=0 v6_code=200 v6_nc_tx_bytes=0
NCVM APP memcached-nc cp_rc=0 set_rc=0 get_rc=0 bytes=ok rps=SET=2646,GET=3343 cmd_set=501 cmd_get=401 \
get_hits=401 secs=7 nc_tx_bytes=49066453
NCVM APP memcached-tcp cp_rc=0 set_rc=0 get_rc=0 bytes=ok rps=SET=4020,GET=4301 cmd_set=501 cmd_get=401 \
get_hits=401 secs=5 nc_tx_bytes=0
NCVM APP ssh-nc conn_rc=0 cat_rc=0 tcp_sockets=0 bytes=ok exit7=7 client_addr=198.18.0.3 server_addr=198.18.0.2 \
server_port=2222 client_errors=0 nc_tx_bytes=2110369
NCVM APP ssh-tcp conn_rc=0 cat_rc=0 tcp_sockets=1 bytes=ok exit7=7 client_addr=198.18.0.3 server_addr=198.18.0.2 \
server_port=2223 client_errors=0 nc_tx_bytes=0
NCVM APP haproxy-nc get_code=200 bytes=ok small_ok_conns=50/1 nc_tx_bytes=9812
NCVM APP haproxy-tcp get_code=200 bytes=ok small_ok_conns=50/1 nc_tx_bytes=0
NCVM APP socat-nc client_rc=0 sum=ok nc_tx_bytes=1049212
NCVM APP socat-tcp client_rc=0 sum=ok nc_tx_bytes=0
"""
SERVER_UP = """\
NCVM APP nginx-nc-up pid=212 tcp_sockets=0
NCVM APP nginx-tcp-up pid=240 tcp_sockets=1
NCVM APP memcached-nc-up pid=495 tcp_sockets=0
NCVM APP memcached-tcp-up pid=574 tcp_sockets=1
NCVM APP haproxy-nc-up pid=301 tcp_sockets=0
NCVM APP haproxy-tcp-up pid=330 tcp_sockets=1
NCVM APP ssh-nc-up pid=590 tcp_sockets=0
NCVM APP ssh-tcp-up pid=679 tcp_sockets=1
"""


def test_good_client_passes():
    assert run_vm.check_apps(GOOD_CLIENT, "client", 1000) == []


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("iperf3-nc client_rc=0 tcp_sockets=0", "iperf3-nc client_rc=0 tcp_sockets=2", "shim not used"),
        ("iperf3-tcp client_rc=0 tcp_sockets=5", "iperf3-tcp client_rc=0 tcp_sockets=0", "sees nothing"),
        ("nc_tx_bytes=219279143", "nc_tx_bytes=1000", "less than the 208 MiB"),
        ("mbytes=208 mbits=433", "mbytes=0.5 mbits=1", "at least 1 MiB"),
        ("nc_tx_bytes=219279143", "nc_tx_bytes=21927[  81.2] BUG", "not a number"),
        ("nc_tx_bytes=195110 commands=2003", "nc_tx_bytes=195110 commands=1003", "want >= 2000"),
        ("195110 commands=2003 roundtrip=ok", "195110 commands=2003 roundtrip=x", "random value"),
        ("roundtrip=ok bench_key=1 rps=SET=2544", "roundtrip=ok bench_key=0 rps=SET=2544", "key is missing"),
        ("redis-nc bench_rc=0", "redis-nc bench_rc=1", "bench_rc=1"),
        ("nginx-nc put_code=201", "nginx-nc put_code=405", "upload stored"),
        ("nginx-nc put_code=201", "nginx-nc put_code=204", None),
        ("get_code=200 get_bytes=1048576 get_bps=2097", "get_code=200 get_bytes=1048000 get_bps=2097", "want 200"),
        ("get_code=200 get_bytes=1048576 get_bps=2097", "get_code=404 get_bytes=1048576 get_bps=2097", "want 200"),
        ("get_bps=20971520 bytes=ok", "get_bps=20971520 bytes=mismatch", "differs from what went up"),
        (
            "bytes=ok small_ok_conns=200/1 nc_tx_bytes=8421376",
            "bytes=ok small_ok_conns=199/1 nc_tx_bytes=8421376",
            "200 answers",
        ),
        ("small_ok_conns=200/1 nc_tx_bytes=0", "small_ok_conns=200/3 nc_tx_bytes=0", "over 1 connection"),
        ("nc_tx_bytes=8421376", "nc_tx_bytes=4096", "did not go through NetChannel"),
        ("get_bps=20971520", "get_bps=[ 9.1] oops", "not a number"),
        ("v6_code=200 v6_nc_tx_bytes=402", "v6_code=000 v6_nc_tx_bytes=402", "v6_code=000"),
        ("v6_code=200 v6_nc_tx_bytes=0", "v6_code=none v6_nc_tx_bytes=0", "v6_code=none"),
        ("v6_code=200 v6_nc_tx_bytes=402", "v6_code=200 v6_nc_tx_bytes=0", "IPv6 socket's request"),
        ("memcached-nc cp_rc=0", "memcached-nc cp_rc=1", "cp_rc=1"),
        ("get_rc=0 bytes=ok rps=SET=2646", "get_rc=0 bytes=mismatch rps=SET=2646", "differs from what memccp"),
        # 1000 requests: 4 threads of 100 keys; the GET run loads 100 first
        (
            "cmd_set=501 cmd_get=401 get_hits=401 secs=7",
            "cmd_set=500 cmd_get=401 get_hits=401 secs=7",
            "cmd_set",
        ),
        ("cmd_get=401 get_hits=401 secs=7", "cmd_get=401 get_hits=400 secs=7", "get_hits=400"),
        ("rps=SET=2646,GET=3343", "rps=none", "printed no rates"),
        ("secs=7 nc_tx_bytes=49066453", "secs=7 nc_tx_bytes=1000", "item did not go through NetChannel"),
        ("ssh-nc conn_rc=0 cat_rc=0", "ssh-nc conn_rc=0 cat_rc=255", "cat_rc=255"),
        ("ssh-nc conn_rc=0", "ssh-nc conn_rc=124", "conn_rc=124"),
        ("cat_rc=0 tcp_sockets=0 bytes=ok", "cat_rc=0 tcp_sockets=0 bytes=mismatch", "remote cat differs"),
        ("tcp_sockets=0 bytes=ok exit7=7", "tcp_sockets=0 bytes=ok exit7=0", "exit status"),
        ("cat_rc=0 tcp_sockets=0 bytes", "cat_rc=0 tcp_sockets=3 bytes", "ssh's connection is TCP"),
        ("cat_rc=0 tcp_sockets=1 bytes", "cat_rc=0 tcp_sockets=0 bytes", "sees nothing"),
        ("server_addr=198.18.0.2 server_port=2222", "server_addr=none server_port=2222", "IPv4 address"),
        ("server_addr=198.18.0.2 server_port=2222", "server_addr=::1 server_port=2222", "IPv4 address"),
        ("server_port=2222", "server_port=2223", "port 2222"),
        (
            "client_addr=198.18.0.3 server_addr=198.18.0.2 server_port=2222",
            "client_addr=198.18.0.2 server_addr=198.18.0.2 server_port=2222",
            "client VM's IPv4",
        ),
        ("server_port=2222 client_errors=0", "server_port=2222 client_errors=2", "ssh printed errors"),
        ("socat-nc client_rc=0 sum=ok", "socat-nc client_rc=1 sum=ok", "client_rc=1"),
        ("haproxy-nc get_code=200 bytes=ok", "haproxy-nc get_code=502 bytes=ok", "through haproxy"),
        ("haproxy-nc get_code=200 bytes=ok", "haproxy-nc get_code=200 bytes=mismatch", "byte for byte"),
        (
            "bytes=ok small_ok_conns=50/1 nc_tx_bytes=9812",
            "bytes=ok small_ok_conns=50/2 nc_tx_bytes=9812",
            "50 answers",
        ),
        ("small_ok_conns=50/1 nc_tx_bytes=9812", "small_ok_conns=50/1 nc_tx_bytes=0", "want >= 64"),
        ("socat-nc client_rc=0 sum=ok", "socat-nc client_rc=0 sum=mismatch:none", "half-closed connection"),
        ("sum=ok nc_tx_bytes=1049212", "sum=ok nc_tx_bytes=100", "did not go through NetChannel"),
        (
            "client_addr=198.18.0.3 server_addr=198.18.0.2 server_port=2222",
            "client_addr=198.18.0.3 server_addr=198.18.0.3 server_port=2222",
            "client VM's IPv4",
        ),
        ("client_errors=0 nc_tx_bytes=2110369", "client_errors=0 nc_tx_bytes=4000", "did not go through NetChannel"),
    ],
)
def test_bad_client_lines_fail(old, new, complaint):
    assert old in GOOD_CLIENT
    problems = run_vm.check_apps(GOOD_CLIENT.replace(old, new, 1), "client", 1000)
    if complaint is None:
        assert problems == []
    else:
        assert any(complaint in p for p in problems), problems


def test_ssh_in_one_vm_wants_a_loopback_client():
    """In one VM sshd must see the local client at 127.0.0.1, as over TCP
    (before NC_F_LOOPBACK it saw the host's data address)."""
    local = "\n".join(line for line in GOOD_CLIENT.splitlines() if line.startswith("NCVM APP ssh-"))
    local = local.replace("198.18.0.3", "127.0.0.1").replace("198.18.0.2", "127.0.0.1")
    found = run_vm.app_results(local)
    assert run_vm.check_app("ssh-nc", found["ssh-nc"], 1000, "local") == []
    moved = run_vm.app_results(local.replace("client_addr=127.0.0.1", "client_addr=198.18.0.1"))
    assert run_vm.check_app("ssh-nc", moved["ssh-nc"], 1000, "local") == [
        "client_addr=198.18.0.1 (want 127.0.0.1 in SSH_CONNECTION: a local client, as over TCP)"
    ]
    elsewhere = run_vm.app_results(local.replace("server_addr=127.0.0.1", "server_addr=198.18.0.1"))
    assert run_vm.check_app("ssh-nc", elsewhere["ssh-nc"], 1000, "local") == [
        "server_addr=198.18.0.1 server_port=2222 (want 127.0.0.1 and port 2222 in SSH_CONNECTION)"
    ]


def test_missing_result_fails():
    text = GOOD_CLIENT.replace("NCVM APP redis-tcp", "NCVM XXX redis-tcp")
    assert run_vm.check_apps(text, "client", 1000) == ["redis-tcp: no result"]


def test_server_exit_status_is_checked():
    lines = SERVER_UP + "\n".join(f"NCVM APP {n} server_rc=0" for n in run_vm.APP_SERVERS if not n.endswith("-up"))
    assert run_vm.check_apps(lines, "serve", 1000) == []
    bad = lines.replace("redis-nc-server server_rc=0", "redis-nc-server server_rc=143")
    assert run_vm.check_apps(bad, "serve", 1000) == ["redis-nc-server: server_rc=143"]


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("nginx-nc-up pid=212 tcp_sockets=0", "nginx-nc-up pid=212 tcp_sockets=1", "nginx-nc-up: tcp_sockets=1"),
        ("nginx-tcp-up pid=240 tcp_sockets=1", "nginx-tcp-up pid=240 tcp_sockets=0", "sees nothing"),
        ("nginx-nc-up pid=212", "nginx-nc-up pid=none", "nginx did not start"),
        ("memcached-nc-up pid=495 tcp_sockets=0", "memcached-nc-up pid=495 tcp_sockets=2", "memcached listens on TCP"),
        ("memcached-tcp-up pid=574", "memcached-tcp-up pid=", "memcached did not start"),
        ("haproxy-nc-up pid=301 tcp_sockets=0", "haproxy-nc-up pid=301 tcp_sockets=1", "haproxy listens on TCP"),
    ],
)
def test_server_start_is_checked(old, new, complaint):
    lines = SERVER_UP + "\n".join(f"NCVM APP {n} server_rc=0" for n in run_vm.APP_SERVERS if not n.endswith("-up"))
    problems = run_vm.check_apps(lines.replace(old, new), "serve", 1000)
    assert len(problems) == 1, problems
    assert complaint in problems[0], problems


def test_unpacked_debs_are_fetched_once_per_version_set(tmp_path, monkeypatch):
    calls = []

    def fake_run(cmd, cwd=None, **kw):
        calls.append(cmd)
        if cmd[:2] == ["apt-get", "download"]:
            (Path(cwd) / "nginx_1.deb").write_text("deb")
        elif cmd[:2] == ["dpkg-deb", "-x"]:
            (Path(cmd[3]) / "usr" / "sbin").mkdir(parents=True)
            (Path(cmd[3]) / "usr" / "sbin" / "nginx").write_text("binary")

        class Done:
            returncode = 0
            stderr = ""

        return Done()

    monkeypatch.setattr(run_vm.subprocess, "run", fake_run)
    root = run_vm.unpacked_debs(["nginx"], cache=str(tmp_path), version=lambda p: "1.22.1-9")
    assert (Path(root) / "usr" / "sbin" / "nginx").read_text() == "binary"
    assert not list(Path(root).glob("*.deb"))
    assert calls[0] == ["apt-get", "download", "-q", "nginx=1.22.1-9"]
    calls.clear()
    assert run_vm.unpacked_debs(["nginx"], cache=str(tmp_path), version=lambda p: "1.22.1-9") == root
    assert calls == []
    other = run_vm.unpacked_debs(["nginx"], cache=str(tmp_path), version=lambda p: "1.22.1-10")
    assert other != root
    assert calls[0][-1] == "nginx=1.22.1-10"


def test_unknown_package_names_itself(tmp_path):
    with pytest.raises(SystemExit) as e:
        run_vm.unpacked_debs(["nginx"], cache=str(tmp_path), version=lambda p: None)
    assert "apt knows no package nginx" in str(e.value)


def test_figures_compare_netchannel_with_tcp():
    figures = run_vm.app_figures(GOOD_CLIENT)
    assert "iperf3 NetChannel 433 Mbit/s TCP 1296 Mbit/s ratio 0.33" in figures
    assert "redis GET NetChannel 2564/s TCP 2933/s ratio 0.87" in figures
    assert "nginx to curl (sendfile) NetChannel 21.0 MB/s TCP 41.9 MB/s ratio 0.50" in figures
    assert "memcached GET NetChannel 3343/s TCP 4301/s ratio 0.78" in figures


def test_alerts_in_a_servers_error_log_fail_it():
    lines = SERVER_UP + "\n".join(
        f"NCVM APP {n} server_rc=0 log_errors=0" for n in run_vm.APP_SERVERS if not n.endswith("-up")
    )
    assert run_vm.check_apps(lines, "serve", 1000) == []
    bad = lines.replace("nginx-nc-server server_rc=0 log_errors=0", "nginx-nc-server server_rc=0 log_errors=2")
    assert run_vm.check_apps(bad, "serve", 1000) == [
        "nginx-nc-server: log_errors=2 (alerts or crashed workers in the server's error log)"
    ]


def test_haproxy_in_one_vm_wants_the_transfer_through_netchannel():
    """In one VM haproxy's and nginx's sends count too: the whole upload must show."""
    found = run_vm.app_results(GOOD_CLIENT)
    assert run_vm.check_app("haproxy-nc", found["haproxy-nc"], 1000, "client") == []
    assert run_vm.check_app("haproxy-nc", found["haproxy-nc"], 1000, "local") == [
        "nc_tx_bytes=9812 (want >= 1048576: the transfer did not go through NetChannel)"
    ]
