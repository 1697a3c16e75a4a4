from pathlib import Path

import pytest
from nclab import lab as labmod
from nclab.config import LabConfig
from nclab.errors import LabError


def test_guest_config_blob():
    cfg = LabConfig.from_env({"NCLAB_COUNT": "3"})
    blob = labmod.guest_config("nclab2", 2, cfg, "ssh-ed25519 AAAA nclab")
    lines = dict(line.split("=", 1) for line in blob.splitlines())
    assert lines["hostname"] == "nclab2"
    assert lines["data_ip"] == "198.18.0.2/24"
    assert lines["mgmt_ip"] == "198.19.255.15/24"
    assert lines["data_mac"] == "52:54:00:c6:00:02"
    assert lines["hosts"] == "nclab1=198.18.0.1 nclab2=198.18.0.2 nclab3=198.18.0.3"


def test_qemu_command(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("nclab.qemu.require_tool", lambda tool, pkg: f"/usr/bin/{tool}")
    cfg = LabConfig.from_env({"NCLAB_DATA_QUEUES": "4"})
    cmd = labmod.qemu_command("tcg", cfg, "nclab1", 1, 10022, tmp_path, [7, 8, 9, 10])
    small = " ".join(
        labmod.qemu_command(
            "tcg", LabConfig.from_env({"NCLAB_DATA_RX_QUEUE_SIZE": "1024"}), "nclab1", 1, 10022, tmp_path, [7]
        )
    )
    assert "rx_queue_size=1024," in small
    text = " ".join(cmd)
    assert "hostfwd=tcp:127.0.0.1:10022-:22" in text
    assert "restrict=on" in text
    assert "tap,id=data,fds=7:8:9:10" in text
    assert "mq=on,vectors=10" in text
    assert "rx_queue_size=256,tx_queue_size=256" in text
    assert "-kernel" not in cmd, "lab VMs boot through GRUB from their disk"
    assert "-enable-kvm" not in cmd
    assert "tcg" in text


def test_data_interface_found_by_mac():
    out = (
        "1: lo: <LOOPBACK> mtu 65536\n2: ens3: <UP> link/ether 52:54:00:ff:00:01\n"
        "3: ens4: <UP> link/ether 52:54:00:c6:00:01 brd ff:ff:ff:ff:ff:ff\n"
    )
    assert labmod.Lab._data_interface("nclab1", 1, out) == "ens4"
    with pytest.raises(LabError, match="no interface with the data MAC 52:54:00:c6:00:02"):
        labmod.Lab._data_interface("nclab2", 2, out)


def test_unknown_host_lists_known_ones(tmp_path: Path):
    cfg = LabConfig.from_env({"NCLAB_STATE_DIR": str(tmp_path)})
    lab = labmod.Lab(cfg)
    with pytest.raises(LabError, match="the lab is not running"):
        lab.host("nclab1")
    lab.save_state({"hosts": [{"name": "nclab1"}, {"name": "nclab2"}]})
    with pytest.raises(LabError, match=r"unknown lab host 'nclab9'; the lab has: nclab1, nclab2"):
        lab.host("nclab9")


def test_corrupt_state_is_reported(tmp_path: Path):
    (tmp_path / "lab.json").write_text("{")
    lab = labmod.Lab(LabConfig.from_env({"NCLAB_STATE_DIR": str(tmp_path)}))
    with pytest.raises(LabError, match=r"lab state .*lab.json is corrupt"):
        lab.load_state()


def test_up_refuses_a_different_count(tmp_path: Path):
    lab = labmod.Lab(LabConfig.from_env({"NCLAB_STATE_DIR": str(tmp_path), "NCLAB_COUNT": "3"}))
    lab.save_state({"hosts": [{"name": "nclab1"}, {"name": "nclab2"}]})
    with pytest.raises(LabError, match=r"a lab of 2 VMs is running; NCLAB_COUNT/--count asks for 3"):
        lab.up()


def test_wait_ready_reports_dead_qemu_with_console_tail(tmp_path: Path):
    cfg = LabConfig.from_env({"NCLAB_STATE_DIR": str(tmp_path), "NCLAB_BOOT_TIMEOUT": "10"})
    lab = labmod.Lab(cfg)
    (tmp_path / "nclab1").mkdir()
    (tmp_path / "nclab1" / "console.log").write_text("Kernel panic - not syncing: VFS\n")
    with pytest.raises(LabError, match=r"(?s)nclab1: QEMU exited while booting.*Kernel panic"):
        lab._wait_ready({"name": "nclab1", "port": 1, "index": 1, "started_at": 0})


def test_wait_ready_times_out_naming_the_timeout(tmp_path: Path, monkeypatch):
    cfg = LabConfig.from_env({"NCLAB_STATE_DIR": str(tmp_path), "NCLAB_BOOT_TIMEOUT": "10"})
    cfg.boot_timeout = 0
    lab = labmod.Lab(cfg)
    (tmp_path / "nclab1").mkdir()
    (tmp_path / "nclab1" / "console.log").write_text("Loading initial ramdisk ...\n")
    expected = r"(?s)did not answer ssh on 127.0.0.1:1 within 0s \(NCLAB_BOOT_TIMEOUT\).*ramdisk"
    with pytest.raises(LabError, match=expected):
        lab._wait_ready({"name": "nclab1", "port": 1, "index": 1, "started_at": 0})


def test_a_second_nclab_command_on_a_busy_lab_is_refused(tmp_path):
    """`nclab up` while another `up` still boots the VMs must not crash half-way (it did, KeyError)."""
    import pytest
    from nclab.config import LabConfig
    from nclab.errors import LabError
    from nclab.lab import Lab

    cfg = LabConfig()
    cfg.state_dir = tmp_path / "state"
    lab = Lab(cfg)
    with lab.locked():
        with pytest.raises(LabError, match="another nclab command is starting or stopping this lab"):
            lab.up()
        with pytest.raises(LabError, match="another nclab command"):
            lab.down()


def test_a_pinned_caller_does_not_pin_the_vms(monkeypatch, tmp_path):
    """Mitogen pins Ansible's workers, and what they start, to one CPU of two: nclab widens its own
    affinity to every online CPU before starting QEMU, so the VMs do not share one core."""
    from nclab import util

    online = tmp_path / "online"
    online.write_text("0-1\n")
    mask = {"now": {1}}
    monkeypatch.setattr(util.os, "sched_getaffinity", lambda pid: set(mask["now"]))
    monkeypatch.setattr(util.os, "sched_setaffinity", lambda pid, cpus: mask.update(now=set(cpus)))
    assert util.widen_cpu_affinity(online) == "CPU affinity [1] -> [0, 1]"
    assert mask["now"] == {0, 1}
    assert util.widen_cpu_affinity(online) == ""  # already every CPU: nothing to do

    def refused(pid, cpus):
        raise OSError(22, "Invalid argument")

    mask["now"] = {1}
    monkeypatch.setattr(util.os, "sched_setaffinity", refused)
    assert util.widen_cpu_affinity(online) == ""  # a cpuset that forbids it: left as it is
    online.write_text("garbage")
    assert util.widen_cpu_affinity(online) == ""
    assert util.parse_cpu_list("0-3,6") == {0, 1, 2, 3, 6}
