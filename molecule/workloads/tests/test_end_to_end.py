"""site.yml end to end (converge.yml): every VM started on Debian's own kernel and ends on the
NetChannel kernel booted through GRUB, with the module loaded under its own address and every
channel up, its NIC holding the values the NIC stage recorded, and a second site.yml changes
nothing in the kernel, module and NIC stages and reboots nothing. The results of the run's
experiments stage are read by test_experiments.py.

This file's name sorts before the others: the second site.yml runs before test_preflight.py's runs
make (and undo) their damage.
"""

import json
import os
import re
import time
from pathlib import Path

import pytest
import testinfra
import yaml

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "molecule" / "workloads"
RESULTS = Path(os.environ.get("NETCHANNEL_EXPERIMENTS_TEST_RESULTS") or "/tmp/netchannel-experiments-molecule")
START = Path(f"{RESULTS}.start.json")
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory" / "lab" / "hosts.yml")
NC_RELEASE = re.compile(r"^6\.1\.\d+-netchannel$")
DEBIAN_RELEASE = re.compile(r"^6\.1\.0-\d+-amd64$")
testinfra_hosts = ["netchannel"]


@pytest.fixture(name="start", scope="module")
def fixture_start() -> dict:
    """Each VM's [kernel release, boot id, what was left of NetChannel...] just before site.yml."""
    return json.loads(START.read_text())


def _boot(host) -> tuple[str, str]:
    return host.check_output("uname -r"), host.file("/proc/sys/kernel/random/boot_id").content_string.strip()


def test_site_gets_the_experiments_vars_of_experiments_yml():
    """The tests that drive the experiments stage again (experiments.yml) read the same run."""
    site = yaml.safe_load((SCENARIO / "converge.yml").read_text())[-1]
    experiments = yaml.safe_load((SCENARIO / "experiments.yml").read_text())[2]
    assert site["ansible.builtin.import_playbook"] == "../../site.yml"
    assert site["vars"] == experiments["vars"]


def test_every_vm_started_bare_on_debians_kernel(start, lab_hosts):
    """No NetChannel kernel installed, no module (DKMS, files, unit, loaded), no NIC record."""
    assert sorted(start) == sorted(lab_hosts)
    for name, (release, _, *left) in start.items():
        assert DEBIAN_RELEASE.match(release), f"{name} started on {release}"
        assert left == [], f"{name} started with {left}"


def test_ends_on_the_netchannel_kernel_booted_through_grub(host, start):
    name = host.backend.get_hostname()
    release, boot_id = _boot(host)
    assert NC_RELEASE.match(release), f"{name} runs {release}"
    assert boot_id != start[name][1], f"{name} was not rebooted by site.yml"
    assert host.file("/proc/cmdline").content_string.startswith(f"BOOT_IMAGE=/boot/vmlinuz-{release} ")
    saved = dict(ln.split("=", 1) for ln in host.check_output("grub-editenv list").splitlines() if "=" in ln)
    # GRUB's saved default: the entry in the "Advanced options" submenu ("SUBMENU>ENTRY")
    assert saved.get("saved_entry", "").split(">")[-1].startswith(f"gnulinux-{release}-advanced-"), saved


def _mesh_problems(text: str, me: str, lab_hosts: dict) -> list[str]:
    """What keeps this host's channels from being whole: its own address marked (self), and to every
    other host at least one bulk and one latency channel, each of them up."""
    problems = []
    for name, peer in lab_hosts.items():
        ip = peer["netchannel_data_ip"]
        block = re.search(rf"^peer {re.escape(ip)}( \(self\))?\n((?:  tx .*\n)*)", text, re.M)
        if not block:
            problems.append(f"no peer {ip} ({name})")
            continue
        if (block.group(1) is not None) != (name == me):
            problems.append(f"peer {ip} ({name}) marked (self): {block.group(1) is not None}")
        if name == me:
            continue
        states = re.findall(r"^  tx +\d+ (\w+) +(\w+) ", block.group(2), re.M)
        if {cls for cls, _ in states} != {"bulk", "latency"} or any(state != "up" for _, state in states):
            problems.append(f"outbound to {name}: {states}")
    return problems


def test_module_loaded_with_its_own_address_and_every_channel_up(host, lab_hosts):
    me = host.backend.get_hostname()
    problems: list = []
    for _ in range(30):  # a channel the experiments' last reload brought up may still be connecting
        text = host.file("/proc/net/netchannel").content_string
        problems = _mesh_problems(text, me, lab_hosts)
        if not problems:
            break
        time.sleep(2)
    assert problems == [], f"{me}:\n{text}"
    table = host.file("/sys/module/netchannel/parameters/hosts").content_string
    assert table.startswith(f"local={lab_hosts[me]['netchannel_data_ip']};"), table


def test_every_nic_still_has_the_values_the_nic_stage_recorded(ansible, lab_hosts):
    """The lab inventory's profile, long_flows (MTU 9000, TSO on), recorded and still applied."""
    for name, hv in lab_hosts.items():
        record = f"/var/lib/netchannel-nic/{hv['netchannel_data_interface']}.json"
        wanted = json.loads(testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}").file(record).content)
        assert (wanted["mtu"], wanted["features"]["tso"]) == (9000, True), f"{name}: {wanted}"
        proc = ansible("ansible", name, "-m", "netchannel.deploy.netchannel_nic", "-a", f"compare_with={record}", "-o")
        assert proc.returncode == 0, proc.output[-3000:]
        # "HOST | SUCCESS => {...}" on one line (-o); Ansible's warnings may follow it
        result, _ = json.JSONDecoder().raw_decode(proc.output.split("=>", 1)[1].lstrip())
        assert result["drift"] == [], f"{name}: {result}"
        assert not result.get("missing"), f"{name}: {result}"


def test_site_again_changes_nothing_and_reboots_nothing(ansible, lab_hosts):
    vms = {n: testinfra.get_host(f"ansible://{n}?ansible_inventory={INVENTORY}") for n in lab_hosts}
    before = {n: _boot(h) for n, h in vms.items()}
    proc = ansible("ansible-playbook", str(REPO / "site.yml"), "--tags", "kernel,module,nic")
    assert proc.returncode == 0, proc.output[-3000:]
    recap = dict(re.findall(r"^(\S+)\s+: ok=\d+\s+(changed=\d+)", proc.output, re.M))
    assert sorted(n for n in recap if n != "localhost") == sorted(lab_hosts), proc.output[-3000:]
    assert set(recap.values()) == {"changed=0"}, recap
    assert {n: _boot(h) for n, h in vms.items()} == before
