"""Kernel roles: the installed kernel, GRUB by entry id, the fallback, config, uapi; bad input."""

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from nclab.inventory import read_lab_hosts

REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = Path.home() / ".cache" / "netchannel" / "kernel"
FRAGMENTS = [REPO / f"roles/netchannel_kernel_build/files/kernel_config/{n}.config" for n in ("netchannel", "lab")]
INVENTORY = Path(os.environ.get("NCLAB_INVENTORY") or REPO / "inventory/lab/hosts.yml")
# The converge installs the kernel on the last lab host only; the others keep Debian's.
LAB = sorted(read_lab_hosts(INVENTORY))
testinfra_hosts = LAB[-1:]


def _kconfig_module():
    path = REPO / "plugins/modules/netchannel_kconfig_check.py"
    spec = importlib.util.spec_from_file_location("netchannel_kconfig_check", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(name="release")
def fixture_release(host) -> str:
    return host.check_output("uname -r")


@pytest.fixture(name="artifacts")
def fixture_artifacts(release) -> Path:
    """The newest artifacts directory whose kernel.release is the running release."""
    dirs = [d for d in ARTIFACTS.glob("*/") if (d / "kernel.release").exists()]
    dirs = [d for d in dirs if (d / "kernel.release").read_text().strip() == release]
    assert dirs, f"no build of {release} under {ARTIFACTS}"
    return max(dirs, key=lambda d: (d / "kernel.release").stat().st_mtime)


def test_runs_the_netchannel_kernel(host, release, artifacts):
    assert release.endswith("-netchannel"), release
    assert re.match(r"^6\.1\.\d+-netchannel$", release), release
    assert (artifacts / "kernel.release").read_text().strip() == release


def test_runs_exactly_this_build(host, artifacts):
    """Two builds of one release differ in their revision, which bindeb-pkg makes the build version."""
    revision = (artifacts / "kernel.revision").read_text().strip()
    assert re.fullmatch(r"\d{14}\.[0-9a-f]{16}", revision), revision
    assert revision.endswith(artifacts.name)
    assert host.check_output("uname -v").startswith(f"#{revision} ")
    image = next(artifacts.glob("linux-image-*.deb")).name
    assert image.split("_")[1].endswith(f"-{revision}"), image


def test_booted_it_through_grub(host, release):
    assert host.file("/proc/cmdline").content_string.startswith(f"BOOT_IMAGE=/boot/vmlinuz-{release} ")


def test_grub_default_is_its_menu_entry_id(host, release):
    assert host.file("/etc/default/grub.d/50-netchannel.cfg").contains("^GRUB_DEFAULT=saved$")
    env = dict(line.split("=", 1) for line in host.check_output("grub-editenv list").splitlines() if "=" in line)
    saved = env.get("saved_entry", "")
    submenu, _, entry = saved.partition(">")
    assert submenu.startswith("gnulinux-advanced-"), saved
    assert entry.startswith(f"gnulinux-{release}-advanced-"), saved
    grub_cfg = host.file("/boot/grub/grub.cfg").content_string
    assert f"$menuentry_id_option '{entry}'" in grub_cfg
    assert 'set default="${saved_entry}"' in grub_cfg


def test_previous_kernel_is_kept_as_fallback(host):
    debian = host.check_output("dpkg-query -W -f '${Package} ${db:Status-Abbrev}\\n' 'linux-image-6.1.0-*-amd64'")
    installed = [line.split()[0] for line in debian.splitlines() if line.split()[1:2] == ["ii"]]
    assert installed, debian
    for pkg in installed:
        release = pkg.removeprefix("linux-image-")
        assert host.file(f"/boot/vmlinuz-{release}").exists
        assert f"Linux {release}'" in host.file("/boot/grub/grub.cfg").content_string


def test_required_config_options_are_in_the_running_kernel(host, release):
    mod = _kconfig_module()
    config = host.file(f"/boot/config-{release}").content_string
    final = {}
    for line in config.splitlines():
        if m := mod.SET_RE.match(line):
            final[m.group(1)] = m.group(2)
    lost = []
    for frag in FRAGMENTS:
        lost += mod.lost(final, mod.parse(str(frag)))
    assert not lost, lost
    assert final.get("CONFIG_MODULES") == "y"


def test_uapi_header_defines_ipproto_virtual_sock(host, artifacts, tmp_path):
    header = host.file("/usr/include/linux/in.h").content_string
    assert re.search(r"IPPROTO_VIRTUAL_SOCK = 19,", header)
    assert "#define IPPROTO_VIRTUAL_SOCK\tIPPROTO_VIRTUAL_SOCK" in header
    assert host.package("linux-libc-dev").version.endswith(artifacts.name)
    # And a program compiled against the packaged header sees 19.
    deb = next(artifacts.glob("linux-libc-dev_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path / "root")], check=True)
    prog = tmp_path / "t.c"
    prog.write_text(
        '#include <stdio.h>\n#include <linux/in.h>\nint main(void) { printf("%d\\n", IPPROTO_VIRTUAL_SOCK); }\n'
    )
    subprocess.run(["gcc", "-I", str(tmp_path / "root/usr/include"), "-o", str(tmp_path / "t"), str(prog)], check=True)
    assert subprocess.run([str(tmp_path / "t")], capture_output=True, text=True, check=True).stdout == "19\n"


# ---- bad input: the build role on the controller, each in its own work/cache dirs ----


def _run_build(ansible, tmp_path: Path, *options: str, **extra):
    extra = {
        "netchannel_kernel_build_work_dir": str(tmp_path / "work"),
        "netchannel_kernel_build_cache_dir": str(tmp_path / "cache"),
        "netchannel_kernel_build_artifacts_dir": str(tmp_path / "artifacts"),
        "netchannel_kernel_build_config_base": "tinyconfig",
        "netchannel_kernel_build_jobs": 2,
        **extra,
    }
    return ansible(
        "ansible-playbook",
        str(Path(__file__).parent / "build_only.yml"),
        *options,
        "-e",
        json.dumps(extra),
        env={"ANSIBLE_STRATEGY": "linear"},
    )


def _build(ansible, tmp_path: Path, **extra) -> str:
    proc = _run_build(ansible, tmp_path, **extra)
    assert proc.returncode != 0, "the build was expected to fail"
    return proc.output


def test_check_mode_on_a_fresh_build_host_reports_the_build(ansible, tmp_path):
    proc = _run_build(ansible, tmp_path, "--check")
    assert proc.returncode == 0, proc.output[-3000:]
    assert "would build kernel" in proc.output, proc.output[-3000:]
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir()), "check mode built or cached something"
    assert not (tmp_path / "artifacts").exists(), "check mode fetched packages"


def test_patch_that_does_not_apply_is_named(ansible, tmp_path):
    bad = tmp_path / "99-bad.patch"
    bad.write_text(
        "--- a/include/uapi/linux/in.h\n+++ b/include/uapi/linux/in.h\n@@ -30,3 +30,3 @@\n"
        " this context line is not in in.h\n-nor is this one\n+so the hunk must fail\n"
    )
    out = _build(ansible, tmp_path, netchannel_kernel_build_extra_patches=[str(bad)])
    assert "patch 00-99-bad.patch does not apply" in out, out[-3000:]
    assert "file include/uapi/linux/in.h: hunk #1 FAILED at line 30" in out, out[-3000:]


def test_missing_source_is_named(ansible, tmp_path):
    out = _build(
        ansible,
        tmp_path,
        netchannel_kernel_build_source="directory",
        netchannel_kernel_build_source_dir=str(tmp_path / "no-such-tree"),
    )
    assert f"missing kernel source: {tmp_path / 'no-such-tree'} (netchannel_kernel_build_source_dir)" in out, out[
        -3000:
    ]


def test_dropped_config_option_is_named(ansible, tmp_path):
    frag = tmp_path / "needs-sysvipc.config"
    # IPC_NS depends on SYSVIPC, which tinyconfig leaves off: olddefconfig drops it.
    frag.write_text("CONFIG_IPC_NS=y\n# CONFIG_SYSVIPC is not set\n")
    out = _build(ansible, tmp_path, netchannel_kernel_build_config_fragments=[str(frag)])
    assert "CONFIG_IPC_NS=y (from 00-needs-sysvipc.config) did not survive olddefconfig" in out, out[-3000:]


# ---- the whole kernel play in check mode, and the real-server path ----


def _kernel_play(ansible, tmp_path: Path, *options: str, **extra):
    """playbooks/kernel.yml --check with the build's directories (and the controller cache) in tmp_path."""
    extra = {
        "netchannel_kernel_build_work_dir": str(tmp_path / "work"),
        "netchannel_kernel_build_cache_dir": str(tmp_path / "cache"),
        "netchannel_kernel_build_artifacts_dir": str(tmp_path / "artifacts"),
        "netchannel_controller_cache_dir": str(tmp_path / "controller"),
        **extra,
    }
    return ansible(
        "ansible-playbook",
        str(REPO / "playbooks/kernel.yml"),
        "--check",
        *options,
        "-e",
        json.dumps(extra),
        env={"ANSIBLE_STRATEGY": "linear"},
    )


def test_check_mode_from_a_fresh_controller_reports_build_and_install(ansible, tmp_path):
    first = LAB[0]
    before = _uname(ansible, first)
    proc = _kernel_play(ansible, tmp_path, netchannel_kernel_install_hosts=first)
    assert proc.returncode == 0, proc.output[-3000:]
    assert "would build kernel" in proc.output, proc.output[-3000:]
    assert f"{first}: would install the NetChannel kernel" in proc.output, proc.output[-3000:]
    assert not (tmp_path / "artifacts").exists(), "check mode fetched packages"
    assert _uname(ansible, first) == before


def test_check_mode_on_a_fresh_target_reports_install_and_reboot(ansible):
    """The first lab host never got the NetChannel kernel: check mode says what it would do, changes nothing.
    The last one runs it (converge): in the same run its installed packages are neither copied nor given
    to apt again (dpkg-query has them at the build's version), and it owes no reboot."""
    first, last = LAB[0], LAB[-1]
    before = _uname(ansible, first)
    proc = ansible(
        "ansible-playbook",
        str(REPO / "playbooks/kernel.yml"),
        "--check",
        "-e",
        json.dumps({"netchannel_kernel_install_hosts": f"{first}:{last}"}),
        env={"ANSIBLE_STRATEGY": "linear"},
    )
    assert proc.returncode == 0, proc.output[-3000:]
    assert f"{first}: would copy and install linux-image-" in proc.output, proc.output[-3000:]
    assert _changed(proc.output, "Reboot into", first), proc.output[-3000:]
    assert _uname(ansible, first) == before
    assert "No such file" in _shell(ansible, first, "ls /var/cache/netchannel/kernel 2>&1 || true")
    assert f"{last}: would copy" not in proc.output, proc.output[-3000:]
    for task in ("Copy the kernel packages", "Install the kernel packages"):
        assert f"skipping: [{last}]" in _task_output(proc.output, task), proc.output[-3000:]
    assert not _changed(proc.output, "Reboot into", last), proc.output[-3000:]


def test_real_server_path_takes_the_first_hosts_config_as_base(ansible, tmp_path):
    """Not the lab: the base config comes from the first host (a small file stands in for /boot/config-*)."""
    first = LAB[0]
    small = "CONFIG_64BIT=y\nCONFIG_SMP=y\nCONFIG_NET=y\nCONFIG_INET=y\n# real-server path test\n"
    _shell(ansible, first, f"printf '{small}' > /root/nc-small.config")
    proc = _kernel_play(
        ansible,
        tmp_path,
        netchannel_lab=False,
        netchannel_kernel_base_config="/root/nc-small.config",
        netchannel_kernel_install_hosts=first,
    )
    assert proc.returncode == 0, proc.output[-3000:]
    kept = tmp_path / "controller" / "base-config" / f"{first}.config"
    assert kept.read_text() == small
    assert oct(kept.stat().st_mode & 0o777) == "0o600"
    staged = tmp_path / "work" / "inputs" / "base.config"
    assert staged.read_text() == kept.read_text()
    assert "would build kernel" in proc.output, proc.output[-3000:]
    # A different base is a different build.
    assert not list((tmp_path / "cache").glob("*"))


def test_a_rebuild_of_the_same_release_is_installed_and_booted(ansible, tmp_path, artifacts):
    """Same release string, other build: the role must see the running kernel is not the wanted one."""
    fake = tmp_path / "rebuilt"
    fake.mkdir()
    revision = (artifacts / "kernel.revision").read_text().strip()
    newer = "99991231235959." + "f" * 16
    for deb in artifacts.glob("*.deb"):
        tree = tmp_path / "x"
        shutil.rmtree(tree, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-R", str(deb), str(tree)], check=True)
        control = tree / "DEBIAN" / "control"
        control.write_text(control.read_text().replace(f"-{revision}", f"-{newer}"))
        name = deb.name.replace(f"-{revision}_", f"-{newer}_")
        subprocess.run(
            ["dpkg-deb", "-Zgzip", "-z1", "-b", str(tree), str(fake / name)], check=True, capture_output=True
        )
    shutil.copy(artifacts / "kernel.release", fake / "kernel.release")
    last = LAB[-1]
    proc = ansible(
        "ansible-playbook",
        str(REPO / "playbooks/kernel.yml"),
        "--check",
        "--limit",
        f"{last},localhost",
        "-e",
        json.dumps({"netchannel_kernel_install_hosts": last}),
        "-e",
        json.dumps({"netchannel_kernel_install_artifacts_dir": str(fake)}),
        env={"ANSIBLE_STRATEGY": "linear"},
    )
    assert proc.returncode == 0, proc.output[-3000:]
    # apt sees a newer version of the installed packages, and the running build is not the wanted one.
    assert _changed(proc.output, "Reboot into", last), proc.output[-3000:]


def _shell(ansible, host: str, cmd: str) -> str:
    proc = ansible("ansible", host, "-m", "ansible.builtin.shell", "-a", cmd, "-o", env={"ANSIBLE_STRATEGY": "linear"})
    assert proc.returncode == 0, proc.output
    return proc.stdout.split("(stdout) ", 1)[-1].strip()


def _uname(ansible, host: str) -> str:
    return _shell(ansible, host, "uname -rv; cat /proc/sys/kernel/random/boot_id")


def _task_output(output: str, task: str) -> str:
    """The lines the install role's task named `task...` printed, up to the next task."""
    head = rf"TASK \[netchannel\.deploy\.netchannel_kernel_install : {re.escape(task)}[^\]]*\][ *]*\n"
    found = re.search(head + r"((?:(?!TASK \[)[^\n]*\n)*)", output)
    assert found, f"no task {task!r} in the output"
    return found.group(1)


def _changed(output: str, task: str, host: str) -> bool:
    """Whether the install role's task named `task...` reported `changed` for `host`."""
    return f"changed: [{host}]" in _task_output(output, task)
