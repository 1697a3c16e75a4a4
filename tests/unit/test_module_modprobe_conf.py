"""The module role's /etc/modprobe.d/netchannel.conf: its `install` line, run by /bin/sh as modprobe
runs it, hands the inner modprobe every option as a word of its own (the table's ';' kept inside
its word, not taken as the shell's command separator), then writes the cluster key and applies the
sysctls. The first version split the table at ';': every load in molecule failed with the table
cut at 'local=198.18.0.1'."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[2]
TABLE = "local=198.18.0.1;peers=198.18.0.2;bulk=2;lat=1;port=9000;cpus=0-1"


def _conf(auth: bool) -> str:
    tasks = yaml.safe_load((ROOT / "roles/netchannel_module/tasks/present.yml").read_text())
    task = next(t for t in tasks if t.get("name", "").startswith("Give the module its table"))
    env = Environment(autoescape=False)  # noqa: S701 (a config file, not HTML)
    env.filters["bool"] = bool  # Ansible's filter; the values here are booleans already
    values = {
        "netchannel_module_auth": auth,
        "__netchannel_module_name": "netchannel",
        "__netchannel_module_table": TABLE,
        "__netchannel_module_bootkey": "/etc/netchannel/auth.key",
    }
    for name, expr in task["vars"].items():  # in order: later ones use earlier ones
        values[name] = env.from_string(expr).render(**values).strip()
    return env.from_string(task["ansible.builtin.copy"]["content"]).render(**values)


def _run_install(conf: str, tmp_path: Path, cmdline_opts: str) -> tuple[list[str], Path, Path]:
    """The install line as modprobe runs it ($CMDLINE_OPTS replaced by every option, sh -c), with
    modprobe, sysctl and the files under tmp_path."""
    line = next(ln for ln in conf.splitlines() if ln.startswith("install netchannel "))
    command = line.split(" ", 2)[2]
    argv_file, sysctl_file = tmp_path / "argv", tmp_path / "sysctl"
    (tmp_path / "proc").mkdir()
    (tmp_path / "modprobe").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {argv_file}\n')
    (tmp_path / "sysctl").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {sysctl_file}.args\n')
    for tool in ("modprobe", "sysctl"):
        os.chmod(tmp_path / tool, 0o700)
    (tmp_path / "auth.key").write_text("ab" * 32 + "\n")
    (tmp_path / "sysctl.conf").write_text("net.netchannel.chan_wait_ms = 2999\n")
    command = (
        command.replace("$CMDLINE_OPTS", cmdline_opts)
        .replace("/sbin/modprobe", str(tmp_path / "modprobe"))
        .replace("/sbin/sysctl", str(tmp_path / "sysctl"))
        .replace("/etc/netchannel/", f"{tmp_path}/")
        .replace("/proc/sys/net/netchannel/", f"{tmp_path}/proc/")
    )
    proc = subprocess.run(["/bin/sh", "-c", command], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return argv_file.read_text().splitlines(), tmp_path / "proc" / "auth_key", Path(f"{sysctl_file}.args")


@pytest.mark.parametrize("auth", [True, False])
def test_every_option_reaches_modprobe_whole_then_the_key_and_sysctls(tmp_path, auth):
    conf = _conf(auth)
    assert f"\noptions netchannel hosts={TABLE}{' auth_required=1' if auth else ''}\n" in conf
    # modprobe gives the install command the options of this file and then those of its own
    # command line (the experiments role's reload passes another table)
    other = TABLE.replace("bulk=2", "bulk=1")
    opts = f"hosts={TABLE}{' auth_required=1' if auth else ''} hosts={other}"
    argv, key, sysctl_args = _run_install(conf, tmp_path, opts)
    want = [
        "--ignore-install",
        "netchannel",
        f"hosts={TABLE}",
        *(["auth_required=1"] if auth else []),
        f"hosts={other}",
    ]
    assert argv == want
    assert key.exists() == auth
    if auth:
        assert key.read_text() == "ab" * 32 + "\n"
    assert sysctl_args.read_text().split() == ["-q", "-p", f"{tmp_path}/sysctl.conf"]
