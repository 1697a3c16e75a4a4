"""The lab VMs: boot through GRUB from disk, data network, packages the roles assume."""

import ipaddress
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
testinfra_hosts = ["netchannel"]


def _inventory() -> dict:
    return yaml.safe_load((REPO / "inventory" / "lab" / "hosts.yml").read_text())


def _lab_hosts() -> dict:
    return _inventory()["all"]["children"]["netchannel"]["hosts"]


def _vars(host) -> dict:
    return _lab_hosts()[host.backend.get_hostname()]


def test_booted_through_grub_from_own_disk(host):
    cmdline = host.file("/proc/cmdline").content_string
    # GRUB's `linux` command puts BOOT_IMAGE first; a -kernel boot has none.
    assert cmdline.startswith("BOOT_IMAGE=/boot/vmlinuz-"), cmdline
    root = host.check_output("findmnt -n -o SOURCE /")
    assert root == "/dev/vda1", root
    assert host.file("/boot/grub/grub.cfg").exists
    # GRUB's boot code is in the disk's MBR.
    mbr = host.check_output("dd if=/dev/vda bs=512 count=1 2>/dev/null | grep -ac GRUB || true")
    assert mbr.strip() == "1", "no GRUB boot code in the MBR of /dev/vda"


def test_runs_the_pinned_debian_kernel(host):
    release = host.check_output("uname -r")
    assert release.startswith("6.1.0-"), release
    assert release.endswith("-amd64"), release


def test_has_its_data_address(host):
    v = _vars(host)
    iface = host.interface(v["netchannel_data_interface"])
    assert iface.exists
    assert v["netchannel_data_ip"] in iface.addresses
    assert ipaddress.ip_address(v["netchannel_data_ip"]) in ipaddress.ip_network("198.18.0.0/15")


def test_data_nic_is_multiqueue(host):
    v = _vars(host)
    queues = host.check_output(f"ls /sys/class/net/{v['netchannel_data_interface']}/queues | grep -c rx-")
    assert int(queues) >= 2


def test_reaches_every_other_lab_host_on_data_network(host):
    me = host.backend.get_hostname()
    v = _vars(host)
    for name, peer in _lab_hosts().items():
        if name == me:
            continue
        cmd = host.run(f"ping -q -n -c 2 -W 3 -I {v['netchannel_data_interface']} {peer['netchannel_data_ip']}")
        assert cmd.rc == 0, f"{me} cannot reach {name} ({peer['netchannel_data_ip']}): {cmd.stdout}{cmd.stderr}"


def test_has_packages_the_roles_assume(host):
    wanted: list[str] = []
    for defaults in sorted((REPO / "roles").glob("*/defaults/main.yml")):
        for name, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if name.endswith("_packages") and not name.startswith("__"):
                wanted.extend(value)
    assert wanted, "no role declares packages; the test would prove nothing"
    missing = [p for p in wanted if not host.package(p).is_installed]
    assert not missing, f"missing packages: {missing}"


def test_management_network_cannot_reach_outside(host):
    # QEMU's user network runs with restrict=on: the guest has no route out.
    cmd = host.run("ip route get 1.1.1.1")
    assert cmd.rc != 0, cmd.stdout
