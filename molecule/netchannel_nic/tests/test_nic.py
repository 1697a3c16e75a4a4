"""netchannel_nic: every applied value read back from the host's own view, and the role driven
for aRFS optional/required, report mode, profile switching and bad input."""

import json
import os
import re
import time
from pathlib import Path

import pytest
import testinfra
import yaml
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[3]
SCENARIO = REPO / "molecule" / "netchannel_nic"
CONVERGE = SCENARIO / "converge.yml"
WANTED = yaml.safe_load(CONVERGE.read_text())[1]["vars"]
testinfra_hosts = ["netchannel"]
# The role-driving tests run on one host (each run costs half a minute under TCG).
LAB_INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory/lab/hosts.yml")
LAB = read_lab_hosts(LAB_INVENTORY)
FIRST = sorted(LAB)[0] if LAB else "none"
IFACE = LAB[FIRST]["netchannel_data_interface"] if LAB else "none"

# One shell round trip per host gathers everything the tests compare (each command costs seconds here).
VIEW_SCRIPT = r"""
i={iface}
echo "== mtu"; cat /sys/class/net/$i/mtu
echo "== ring"; ethtool -g $i
echo "== channels"; ethtool -l $i
echo "== features"; ethtool -k $i
echo "== qdisc"; tc qdisc show dev $i
echo "== sysctl"; sysctl -n net.core.default_qdisc kernel.sched_autogroup_enabled net.ipv4.tcp_rmem \
  net.core.rmem_max net.core.wmem_max net.core.rps_sock_flow_entries
echo "== queues"; for f in /sys/class/net/$i/queues/*/rps_flow_cnt /sys/class/net/$i/queues/*/rps_cpus \
  /sys/class/net/$i/queues/*/xps_cpus; do echo "$f $(cat $f)"; done
echo "== device"; basename "$(readlink -f /sys/class/net/$i/device)"
echo "== irqs"; for n in $(awk -F: '/virtio[0-9]+-(input|output)/ {{print $1}}' /proc/interrupts); do
  echo "$n $(awk -v n="$n:" '$1 == n {{print $NF}}' /proc/interrupts) $(cat /proc/irq/$n/smp_affinity_list)"; done
echo "== irqbalance"; systemctl is-active irqbalance; systemctl is-enabled irqbalance
echo "== end"
"""


def _sections(text: str) -> dict[str, str]:
    out, name = {}, None
    for line in text.splitlines():
        m = re.match(r"^== (\w+)$", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name:
            out[name] += line + "\n"
    return out


@pytest.fixture(name="view", scope="module")
def fixture_view(host, lab_hosts) -> dict[str, str]:
    iface = lab_hosts[host.backend.get_hostname()]["netchannel_data_interface"]
    out = host.run(VIEW_SCRIPT.format(iface=iface))
    view = _sections(out.stdout)
    assert "end" in view, out.stderr
    return view


def _field(section: str, heading: str, key: str) -> str:
    """'Current hardware settings' value of key in ethtool -g/-l output."""
    part = section.split(heading, 1)[1]
    return re.search(rf"^{key}:\s+(\S+)", part, re.M).group(1)


def test_link(view):
    assert view["mtu"].strip() == "9000"
    assert _field(view["ring"], "Current hardware settings", "RX") == "128"
    maximum = _field(view["channels"], "Pre-set maximums", "Combined")
    # The profile asks for 32 channels: clamped to what the NIC has.
    assert _field(view["channels"], "Current hardware settings", "Combined") == maximum
    feats = dict(re.findall(r"^([a-z-]+): (on|off)", view["features"], re.M))
    assert feats["tcp-segmentation-offload"] == "on"
    assert feats["generic-segmentation-offload"] == "on"
    assert feats["generic-receive-offload"] == "on"
    assert feats["large-receive-offload"] == "off"
    assert feats["ntuple-filters"] == "off", "virtio-net has no aRFS"


def test_the_applied_values_are_recorded(host, lab_hosts):
    """What netchannel_experiments' preflight compares the NIC with later: the role's values, 0644."""
    iface = lab_hosts[host.backend.get_hostname()]["netchannel_data_interface"]
    rec = host.file(f"/var/lib/netchannel-nic/{iface}.json")
    assert rec.exists
    assert rec.mode == 0o644
    got = json.loads(rec.content_string)
    assert got["interface"] == iface
    assert got["mtu"] == 9000  # the long_flows profile
    assert {k: str(v) for k, v in got["rings"].items()} == {
        k: str(v) for k, v in WANTED["netchannel_nic_rings"].items()
    }
    sysctls = {k: str(v) for k, v in got["sysctls"].items()}
    assert sysctls == {**sysctls, **{k: str(v) for k, v in WANTED["netchannel_nic_sysctls"].items()}}
    assert got["irq_cpus"] == WANTED["netchannel_nic_irq_cpus"]
    # the profile's name and the variables set, apart: what the experiments switch profiles with
    assert got["profile"] == "long_flows"
    assert got["overrides"]["irq_cpus"] == WANTED["netchannel_nic_irq_cpus"]
    assert "mtu" not in got["overrides"]  # the profile's value, not one the play set


def test_mq_root_with_default_qdisc_children(view):
    lines = view["qdisc"].splitlines()
    assert lines[0].startswith("qdisc mq ")
    assert " root" in lines[0]
    children = [line.split()[1] for line in lines[1:]]
    assert children
    assert set(children) == {"pfifo_fast"}


def test_sysctls(view):
    values = view["sysctl"].split("\n")
    assert values[:6] == ["pfifo_fast", "0", "4096\t131072\t6291456", "6291456", "6291456", "32768"]


def test_rfs_rps_xps_per_queue(view):
    files = dict(line.rsplit(" ", 1) for line in view["queues"].splitlines())
    rx = sorted(f for f in files if f.endswith("/rps_flow_cnt"))
    assert rx
    per_queue = 32768 // len(rx)
    for f in rx:
        assert int(files[f]) == per_queue, f
    for f in (f for f in files if f.endswith("/rps_cpus")):
        assert int(files[f], 16) == 0b11, f
    # XPS: CPU 1 to tx-0, CPU 0 to tx-1 (the list order; virtio-net's own default is the reverse).
    xps = {re.search(r"/(tx-\d+)/", f).group(1): int(v, 16) for f, v in files.items() if f.endswith("/xps_cpus")}
    assert xps["tx-0"] == 0b10
    assert xps["tx-1"] == 0b01


def test_queue_irqs_one_per_cpu(view):
    dev = view["device"].strip()
    irqs = [line.split() for line in view["irqs"].splitlines()]
    mine = [(name, aff) for _, name, aff in irqs if name.startswith(f"{dev}-")]
    assert mine, view["irqs"]
    for name, aff in mine:
        queue = int(name.rsplit(".", 1)[1])
        # queue M on the M-th CPU of the list ([1, 0]: the reverse of virtio-net's own hint).
        assert aff == str(WANTED["netchannel_nic_irq_cpus"][queue % 2]), (name, aff)


def test_irqbalance_stopped_and_disabled(view):
    assert view["irqbalance"].split() == ["inactive", "disabled"]


# --- the role driven by the tests (on one host) ---------------------------------------------------


RESULT_RE = re.compile(r"^(ok|changed|fatal|failed|skipping): \[([^\]]+)\](?:: FAILED!)? => (\{.*\})$")


def _role(ansible, *extra: str):
    """Run the converge on FIRST; (proc, recap, {task name: FIRST's result}) from the `-v` output.

    Failures are kept on stdout (display_failed_stderr off) so that each result follows its TASK line.
    """
    proc = ansible(
        "ansible-playbook",
        "-v",
        "--limit",
        FIRST,
        str(CONVERGE),
        *extra,
        env={"ANSIBLE_DEPRECATION_WARNINGS": "0", "ANSIBLE_DISPLAY_FAILED_STDERR": "0"},
    )
    tasks, name = {}, None
    for line in proc.stdout.splitlines():
        m = re.match(r"^TASK \[(?:[^:\]]+ : )?(.+?)\] \*+$", line)
        if m:
            name = m.group(1)
            continue
        m = RESULT_RE.match(line)
        if m and m.group(2) == FIRST and name:
            tasks[name] = {"status": m.group(1), **json.loads(m.group(3))}
    recap = re.search(rf"^{FIRST}\s+: ok=(\d+)\s+changed=(\d+)", proc.stdout, re.M)
    assert recap, proc.output
    return proc, {"ok": int(recap.group(1)), "changed": int(recap.group(2))}, tasks


def test_report_mode_table_and_one_arfs_warning(ansible):
    proc, stats, tasks = _role(ansible, "-e", "netchannel_nic_report=true")
    assert proc.returncode == 0, proc.output
    assert stats["changed"] == 0
    report = tasks["Read the NIC and compare (check mode)"]
    statuses = {row["setting"]: row["status"] for row in report["rows"]}
    assert statuses["arfs"] == "unsupported"
    assert statuses["channels.combined"] == "clamped"
    assert "change" not in statuses.values(), statuses
    # The table as printed (debug of its lines): header, then one line per setting.
    assert re.search(rf'"{FIRST} {IFACE}"', proc.stdout), proc.stdout
    assert re.search(r'"mtu +9000 +9000 +ok"', proc.stdout), proc.stdout
    assert re.search(r'"arfs +False +True +unsupported"', proc.stdout), proc.stdout
    # One warning for the host, listing what it skipped (aRFS: optional here, so no failure).
    warned = re.findall(rf"\[WARNING\]: {FIRST}: interface {IFACE}: skipped, not supported here: (.*)", proc.output)
    assert warned == ["arfs (ntuple-filters is fixed by the driver)"], proc.output


def test_arfs_required_fails_naming_it_before_any_change(ansible):
    proc, _, tasks = _role(ansible, "-e", '{"netchannel_nic_required": ["arfs"], "netchannel_nic_mtu": 1500}')
    assert proc.returncode != 0
    msg = tasks["Check that the NIC and the request fit, before anything changes (check mode)"]["msg"]
    assert msg == (
        f"{FIRST}: interface {IFACE}: required settings not supported by this NIC/kernel: "
        "arfs (ntuple-filters is fixed by the driver)"
    )
    # Failed in the dry run: irqbalance and the NIC were not touched.
    assert "Read the state of irqbalance" not in tasks
    assert "Apply the wanted values" not in tasks


def test_bad_input_fails_before_any_change(ansible):
    proc, _, tasks = _role(
        ansible,
        "-e",
        '{"netchannel_nic_mtu": -5, "netchannel_nic_irq_cpus": [0, 9], "netchannel_nic_offloads": {"tso": false}}',
    )
    assert proc.returncode != 0
    msg = tasks["Check that the NIC and the request fit, before anything changes (check mode)"]["msg"]
    assert f"{FIRST}: interface {IFACE}: mtu=-5 is not a whole number in 68..65536" in msg
    assert f"{FIRST}: interface {IFACE}: irq_cpus=[0, 9] names CPUs 9 that this host does not have" in msg
    proc, _, tasks = _role(ansible, "-e", '{"netchannel_nic_interface": "nope0", "netchannel_nic_mtu": 1500}')
    assert proc.returncode != 0
    msg = tasks["Check that the NIC and the request fit, before anything changes (check mode)"]["msg"]
    assert msg == f"{FIRST}: interface 'nope0' does not exist (netchannel_nic_interface)"
    assert "Read the state of irqbalance" not in tasks
    assert "Apply the wanted values" not in tasks


def test_profile_switch_changes_only_what_differs(ansible):
    proc, _, tasks = _role(ansible, "-e", "netchannel_nic_profile=short_flows")
    assert proc.returncode == 0, proc.output
    changed = sorted(c["setting"] for c in tasks["Apply the wanted values"]["changes"])
    # long_flows -> short_flows differ in MTU and offloads only (one ethtool -K for all of them).
    assert changed == ["features", "mtu"]
    applied = tasks["Apply the wanted values"]["state"]  # read back from the host after applying
    assert applied["mtu"]["cur"] == 1500
    assert applied["features"] == {**applied["features"], "tso": False, "gso": False, "gro": False, "lro": False}
    proc, _, tasks = _role(ansible)
    assert proc.returncode == 0, proc.output
    assert sorted(c["setting"] for c in tasks["Apply the wanted values"]["changes"]) == ["features", "mtu"]
    applied = tasks["Apply the wanted values"]["state"]
    assert applied["mtu"]["cur"] == 9000
    assert applied["features"]["tso"] is True


def _queue_affinity(view: dict) -> dict[str, str]:
    dev = view["device"].strip()
    irqs = [line.split() for line in view["irqs"].splitlines()]
    mine = {name.split("-", 1)[1]: aff for _, name, aff in irqs if name.startswith(f"{dev}-")}
    assert mine, view["irqs"]
    return mine


def _module_view(vm) -> dict:
    """The NetChannel module's table, cluster key id and channel states on a host ({} if not loaded)."""
    if not vm.file("/sys/module/netchannel").exists:
        return {}
    text = vm.run("cat /proc/net/netchannel").stdout
    auth = re.search(r"^auth key_id (\S+)$", text, re.M)
    return {
        "table": vm.check_output("cat /sys/module/netchannel/parameters/hosts"),
        "auth": auth.group(1) if auth else None,
        "tx": re.findall(r"^  tx +\d+ (\w+) +(\w+) ", text, re.M),
    }


def _all_up(views: dict) -> bool:
    return all(v.get("tx") and all(state == "up" for _, state in v["tx"]) for v in views.values())


def test_persistence_reapplies_the_values_after_a_reboot(ansible):
    """Also the module's reboot test: this is the lab's one reboot of a VM on Debian's kernel after
    the module scenario (which used to reboot the same VM for its own check, about 2.5 minutes of
    CI). The module that scenario left loaded must come back by itself at boot, with the same table,
    the cluster key, and every channel up on both sides."""
    # Without persistence a reboot leaves the lab NIC at its defaults (MTU 1500, full rings, no RFS).
    vm = testinfra.get_host(f"ansible://{FIRST}?ansible_inventory={LAB_INVENTORY}")
    hosts = {n: testinfra.get_host(f"ansible://{n}?ansible_inventory={LAB_INVENTORY}") for n in sorted(LAB)}
    module_before = _module_view(vm)
    proc, _, _ = _role(ansible, "-e", "netchannel_nic_persist=true")
    assert proc.returncode == 0, proc.output
    unit = f"netchannel-nic@{IFACE}.service"
    assert vm.service(unit).is_enabled
    before = _sections(vm.run(VIEW_SCRIPT.format(iface=IFACE)).stdout)
    boot_id = vm.check_output("cat /proc/sys/kernel/random/boot_id")
    rebooted = ansible("ansible", FIRST, "-m", "ansible.builtin.reboot", "-a", "reboot_timeout=900", at_least=1500)
    assert rebooted.returncode == 0, rebooted.output[-3000:]
    vm = testinfra.get_host(f"ansible://{FIRST}?ansible_inventory={LAB_INVENTORY}")
    assert vm.check_output("cat /proc/sys/kernel/random/boot_id") != boot_id
    after = _sections(vm.run(VIEW_SCRIPT.format(iface=IFACE)).stdout)
    assert after["mtu"].strip() == "9000"
    for section in ("mtu", "ring", "channels", "qdisc", "queues", "irqbalance"):
        assert after[section] == before[section], section
    # the data NIC's queue IRQs on the same CPUs (IRQ numbers and the virtioN index of the device
    # may change across boots: compare queue name -> CPUs of this interface's device only)
    assert _queue_affinity(after) == _queue_affinity(before)
    # the unit's log says what it did at boot: value pairs, or the command for rings and features
    log = vm.check_output(f"journalctl -b --no-pager -o cat -u {unit}")
    assert f"changed: mtu ip link set dev {IFACE} mtu 9000" in log, log
    assert f"changed: rings ethtool -G {IFACE} rx 128" in log, log
    assert "None -> None" not in log, log
    if module_before:  # loaded by the module scenario before this one (make test's order)
        views: dict = {}
        for _ in range(90):
            views = {n: _module_view(h) for n, h in hosts.items()}
            if _all_up(views):
                break
            time.sleep(2)
        assert _all_up(views), views
        after_module = views[FIRST]
        assert after_module["table"] == module_before["table"]
        assert after_module["auth"] is not None
        assert after_module["auth"] == module_before["auth"]
    proc, _, _ = _role(ansible)  # persistence off again: the unit is disabled
    assert proc.returncode == 0, proc.output
    assert not vm.service(unit).is_enabled
