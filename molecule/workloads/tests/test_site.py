"""site.yml end to end (the converge, every stage): both VMs end on the NetChannel kernel booted
through GRUB, with the module built for it and loaded with each host's own address and every channel
up; a second site.yml (the same run id) changes nothing in the kernel, module and NIC stages (so the
NIC profile is in place), reboots nothing and measures nothing."""

import os
import re

import pytest
import testinfra
import yaml
from nclab.inventory import read_lab_hosts
from workloads_common import CONVERGE, PLANNED, REPO, RUN, resume_env

INVENTORY = os.environ.get("NCLAB_INVENTORY") or str(REPO / "inventory" / "lab" / "hosts.yml")
testinfra_hosts = ["netchannel"]
# The plays of each stage, by the names their playbooks give them.
STAGES = {
    stage: [play["name"] for play in yaml.safe_load((REPO / "playbooks" / f"{stage}.yml").read_text())]
    for stage in ("kernel", "module", "nic")
}
_SECOND: dict = {}


def _vm(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def _boot_ids() -> dict[str, str]:
    return {name: _vm(name).check_output("cat /proc/sys/kernel/random/boot_id") for name in read_lab_hosts(INVENTORY)}


def _plays(output: str) -> dict[str, str]:
    """Each play's part of the default callback's output, by play name."""
    plays = {}
    for chunk in re.split(r"^PLAY \[", output, flags=re.M)[1:]:
        name, _, body = chunk.partition("]")
        plays[name] = plays.get(name, "") + body
    return plays


@pytest.fixture(name="second_run")
def fixture_second_run(ansible) -> dict:
    """The converge once more on its own results: site.yml again, every stage (run once per module)."""
    if not _SECOND:
        reps = sorted(p.relative_to(RUN) for p in RUN.rglob("rep-*"))
        boots = _boot_ids()
        proc = ansible("ansible-playbook", str(CONVERGE), env=resume_env())
        _SECOND.update(
            proc=proc,
            plays=_plays(proc.output),
            boots_before=boots,
            boots_after=_boot_ids(),
            reps_before=reps,
            reps_after=sorted(p.relative_to(RUN) for p in RUN.rglob("rep-*")),
        )
    return _SECOND


def test_runs_the_netchannel_kernel_booted_through_grub(host):
    release = host.check_output("uname -r")
    assert re.fullmatch(r"6\.\d+\.\d+-netchannel", release), release
    assert host.file("/proc/cmdline").content_string.startswith(f"BOOT_IMAGE=/boot/vmlinuz-{release} ")
    env = dict(line.split("=", 1) for line in host.check_output("grub-editenv list").splitlines() if "=" in line)
    assert env.get("saved_entry", "").partition(">")[2].startswith(f"gnulinux-{release}-advanced-"), env


def test_every_host_runs_the_same_kernel_build():
    builds = {name: _vm(name).check_output("uname -rv") for name in read_lab_hosts(INVENTORY)}
    assert len(set(builds.values())) == 1, builds


def test_module_built_for_it_loaded_with_its_own_address_and_every_channel_up(host, hostvars, lab_hosts):
    assert host.check_output("modinfo -F vermagic netchannel").split()[0] == host.check_output("uname -r")
    text = host.check_output("cat /proc/net/netchannel")
    assert re.match(rf"netchannel wire_version \d+ local {re.escape(hostvars['netchannel_data_ip'])} ", text), text
    for peer in lab_hosts.values():
        assert re.search(rf"^peer {re.escape(peer['netchannel_data_ip'])}( \(self\))?$", text, re.M), text
    channels = re.findall(r"^  tx +\d+ +\w+ +(\w+) ", text, re.M)
    assert channels, text
    assert set(channels) == {"up"}, text


def test_second_site_run_succeeds(second_run):
    proc = second_run["proc"]
    assert proc.returncode == 0, proc.output[-3000:]


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_second_site_run_changes_nothing_in_the_stage(second_run, stage):
    plays = second_run["plays"]
    for name in STAGES[stage]:
        assert name in plays, f"play {name!r} of the {stage} stage did not run: {sorted(plays)}"
        changed = [line for line in plays[name].splitlines() if line.startswith("changed: ")]
        assert changed == [], f"{stage} stage, play {name!r}: {changed}"


def test_second_site_run_reboots_nothing(second_run):
    assert second_run["boots_after"] == second_run["boots_before"]


def test_second_site_run_resumes_and_measures_nothing(second_run):
    out = second_run["proc"].output
    assert f"{len(PLANNED)} of {len(PLANNED)} done, 0 left" in out
    assert "Run the ncbench client" not in out
    assert "Run redis-benchmark" not in out
    assert second_run["reps_after"] == second_run["reps_before"]
    assert f"report: {RUN}/report/report.md" in out
