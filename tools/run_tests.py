#!/usr/bin/env python3
"""Run every test tier and print one summary line per tier, then the total.

  static    ansible-lint (production), yamllint, ansible-playbook --syntax-check on
            every playbook, ruff (lint + format), role READMEs in step, collection build
  unit      pytest tests/unit (the nclab lab command)
  module    the NetChannel module: unit tests (ASan/UBSan), fuzzing, W=1 build, sparse,
            checkpatch, in-VM tests on Debian's 6.1 kernel (loopback, and two VMs; iperf3,
            redis, nginx + curl and memcached through the shim), then the same on a debug kernel (KASAN, lockdep,
            kmemleak) that the kernel role builds
  molecule  every molecule scenario on one shared lab (testinfra verifiers)

Usage: run_tests.py [--tier static,unit,molecule] [--keep-lab]
Exit status is non-zero if any check of any tier failed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
TIERS = ("static", "unit", "module", "molecule")


class Tier:
    def __init__(self, name: str):
        self.name = name
        self.passed = 0
        self.failed = 0
        self.notes: list[str] = []
        self.info = ""
        self.t0 = time.monotonic()
        self.took = 0.0
        self.digest: list[str] = []  # what failed, in a few lines, repeated before the summary

    def check(self, what: str, cmd: list[str], cwd_: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
        print(f"\n=== {self.name}: {what}\n$ {' '.join(cmd)}", flush=True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        tail: deque[str] = deque(maxlen=DIGEST_TAIL)
        t0 = time.monotonic()
        if "stdout" in kwargs:
            proc = subprocess.run(cmd, cwd=cwd_, check=False, text=True, **kwargs)
        else:
            # the last lines kept for the digest
            rc = run_streamed(cmd, lambda line: tail.append(line.rstrip("\n")), cwd=cwd_, **kwargs)
            proc = subprocess.CompletedProcess(cmd, rc)
        print(f"[time] {self.name}: {what}: {time.monotonic() - t0:.0f} s", flush=True)
        if proc.returncode == 0:
            self.passed += 1
        else:
            self.failed += 1
            self.notes.append(f"{what} (exit {proc.returncode})")
            self.digest += [f"--- {what} (exit {proc.returncode}), its last lines:", *map(clip, tail)]
        return proc

    def line(self) -> str:
        extra = f"  [failed: {'; '.join(self.notes)}]" if self.notes else ""
        info = f" ({self.info})" if self.info else ""
        return f"{self.name}: {self.passed} passed, {self.failed} failed in {self.took:.0f}s{info}{extra}"


def run_streamed(cmd: list[str], on_line, **popen_kwargs) -> int:
    """Run cmd, echoing its output (stdout and stderr) as it comes; on_line sees every line."""
    with subprocess.Popen(
        cmd, text=True, errors="replace", stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen_kwargs
    ) as pipe:
        assert pipe.stdout is not None
        for line in pipe.stdout:
            sys.stdout.write(line)
            on_line(line)
        return pipe.wait()


DIGEST_TAIL = 10  # lines of a failed check's output repeated before the summary
DIGEST_WIDTH = 240  # characters per repeated line
DIGEST_LINES = 24  # the digest's length at most, per tier


def clip(line: str) -> str:
    return line if len(line) <= DIGEST_WIDTH else line[: DIGEST_WIDTH - 3] + "..."


# What names a failure in molecule's output: Ansible's failed tasks and errors, pytest's
# failures, and the experiments role's note of a failed repetition.
FAILURE_LINE = re.compile(
    r"^(fatal: \[|failed: \[|ERROR!|\[ERROR\]|CRITICAL|FAILED |E   |_{3,} test|Traceback \(most recent call last\)"
    r"|.*repetitions? failed|.*\brep \d+: )"
)


def failure_digest(text: str, limit: int = DIGEST_LINES) -> list[str]:
    """The lines of a long log that say what failed, each after the task or scenario it belongs to."""
    out: list[str] = []
    where = ""
    shown = ""
    for line in text.splitlines():
        if line.startswith(("TASK [", "INFO     ", "PLAY [")) or re.match(r"^\S+\s+: actions=", line):
            where = line
            continue
        if FAILURE_LINE.match(line):
            if where and where != shown:
                out.append(clip(where))
                shown = where
            out.append(clip(line))
    if len(out) > limit:
        out = [*out[: limit // 2], f"... {len(out) - limit} lines left out ...", *out[-(limit - limit // 2) :]]
    return out


def env() -> dict:
    e = dict(os.environ)
    e["PATH"] = f"{VENV_BIN}:{e.get('PATH', '/usr/bin:/bin')}"
    # Only the collection bootstrap installed from this checkout: never a copy that another
    # checkout, molecule or ansible-lint left in ~/.ansible/collections.
    e["ANSIBLE_COLLECTIONS_PATH"] = str(ROOT / "collections")
    e.setdefault("ANSIBLE_FORCE_COLOR", "0")
    e["PY_COLORS"] = "0"
    e["NO_COLOR"] = "1"
    return e


def playbooks() -> list[str]:
    return ["site.yml", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "playbooks").glob("*.yml"))]


def forget_stray_copies() -> None:
    """ansible-lint and molecule resolve netchannel.deploy from ~/.ansible/collections before
    collections_path; a copy an earlier run (or another checkout) left there is stale and would
    be linted and run instead of this checkout's. Remove it: ours is in collections/."""
    stray = Path.home() / ".ansible" / "collections" / "ansible_collections" / "netchannel" / "deploy"
    if stray.is_symlink() or stray.exists():
        print(f"run_tests: removing {stray}, a stale copy of this collection (this checkout's is collections/)")
        if stray.is_symlink():
            stray.unlink()
        else:
            shutil.rmtree(stray)


def static(t: Tier) -> None:
    forget_stray_copies()
    e = env()
    t.check("ansible-lint (production profile)", ["ansible-lint", "--profile", "production"], env=e)
    t.check("yamllint", ["yamllint", "--strict", "."], env=e)
    for pb in playbooks():
        t.check(f"syntax-check {pb}", ["ansible-playbook", "-i", "localhost,", "--syntax-check", pb], env=e)
    t.check("ruff check", ["ruff", "check", "."], env=e)
    t.check("ruff format --check", ["ruff", "format", "--check", "."], env=e)
    t.check(
        "role READMEs in step with argument_specs", [str(VENV_BIN / "python"), "tools/role_docs.py", "--check"], env=e
    )
    t.check("no role or playbook reaches outside the collection", [str(VENV_BIN / "python"), "tools/check_escapes.py"])
    t.check(
        "modules: docs, argument specs, FQCN examples (validate-modules, offline)",
        [str(VENV_BIN / "python"), "tools/check_modules.py"],
        env=e,
    )
    with tempfile.TemporaryDirectory() as tmp:
        installed_collection(t, Path(tmp), e)


def installed_collection(t: Tier, tmp: Path, e: dict) -> None:
    """Build the tarball, install it where a user would, and use everything by its full name from outside."""
    out = tmp / "dist"
    proc = t.check(
        "ansible-galaxy collection build",
        ["ansible-galaxy", "collection", "build", "--force", "--output-path", str(out)],
        env=e,
    )
    if proc.returncode != 0:
        return
    tarball = next(out.glob("*.tar.gz"))
    names = subprocess.run(["tar", "-tzf", str(tarball)], capture_output=True, text=True, check=True).stdout.split()
    roles = sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir())
    playbooks_ = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))
    modules = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py"))
    missing = [r for r in roles if f"roles/{r}/tasks/main.yml" not in names]
    stray = sorted(
        {n.split("/")[0] for n in names if n.split("/")[0] in ("molecule", "tests", "tools", ".ci", ".config")}
    )
    stray += [n for n in names if n.startswith("module_src/tests")][:1]
    t.check(
        "tarball holds every role and no tests, CI or lab tooling",
        [sys.executable, "-c", f"import sys; print({missing!r}, {stray!r}); sys.exit({1 if missing or stray else 0})"],
    )
    # A user's project: its own directory, no ansible.cfg of ours, the collection installed by ansible-galaxy.
    user = tmp / "user-project"
    user.mkdir()
    ue = {k: v for k, v in e.items() if not k.startswith("ANSIBLE_")}
    ue |= {"ANSIBLE_COLLECTIONS_PATH": str(user / "collections"), "ANSIBLE_CONFIG": str(user / "ansible.cfg")}
    (user / "ansible.cfg").write_text("[defaults]\n")
    proc = t.check(
        "install the tarball into a user's project",
        [
            "ansible-galaxy",
            "collection",
            "install",
            "--offline",
            "--force",
            "-p",
            str(user / "collections"),
            str(tarball),
        ],
        env=ue,
        cwd_=user,
    )
    if proc.returncode != 0:
        return
    play = ["---", "- name: Every role by its full name", "  hosts: all", "  gather_facts: false", "  roles:"]
    play += [f"    - role: netchannel.deploy.{r}" for r in roles]
    play += [f"- name: Playbook {pb}\n  ansible.builtin.import_playbook: netchannel.deploy.{pb}" for pb in playbooks_]
    (user / "uses_everything.yml").write_text("\n".join(play) + "\n")
    t.check(
        "syntax-check a user's playbook that uses every role and playbook by full name",
        ["ansible-playbook", "-i", "localhost,", "--syntax-check", "uses_everything.yml"],
        env=ue,
        cwd_=user,
    )
    for kind, items in (("role", roles), ("module", modules)):
        t.check(
            f"ansible-doc renders every {kind} of the installed collection",
            ["ansible-doc", "-t", kind, *[f"netchannel.deploy.{i}" for i in items]],
            env=ue,
            cwd_=user,
            stdout=subprocess.DEVNULL,
        )


def unit(t: Tier) -> None:
    proc = t.check("pytest tests/unit", ["pytest", "-q", "-p", "no:cacheprovider", "tests/unit"], env=env())
    if proc.returncode == 5:
        t.notes.append("no tests collected")


# make test runs molecule on a lab of its own, so it never touches (or stops) the lab
# that `make lab` started: other names, state directory, inventory and ssh ports.
TEST_LAB = {
    "NCLAB_NAME": "nctest",
    "NCLAB_STATE_DIR": str(ROOT / ".lab-test"),
    "NCLAB_INVENTORY": str(ROOT / "inventory" / "test" / "hosts.yml"),
    "NCLAB_SSH_PORTS": "10422-10621",
}


def test_env() -> dict:
    return {**env(), **TEST_LAB, "ANSIBLE_INVENTORY": TEST_LAB["NCLAB_INVENTORY"]}


def user_env() -> dict:
    """The environment `make lab` runs in: the default lab, whatever NCLAB_* the caller set for it."""
    return {k: v for k, v in env().items() if k != "ANSIBLE_INVENTORY"}


def lab_running(e: dict) -> bool:
    proc = subprocess.run(
        [str(VENV_BIN / "nclab"), "status"], cwd=ROOT, capture_output=True, text=True, check=False, env=e
    )
    return proc.returncode == 0 and " running " in proc.stdout and "STOPPED" not in proc.stdout


def lab_fingerprint(e: dict) -> dict:
    """What must not change in the user's lab while the tests run: its inventory, and each VM's boot id."""
    from nclab.config import LabConfig
    from nclab.inventory import read_lab_hosts

    inventory = LabConfig.from_env(e).inventory_path
    hosts = sorted(read_lab_hosts(inventory)) if inventory.exists() else []
    boots = {}
    for name in hosts:
        try:
            proc = subprocess.run(
                [str(VENV_BIN / "nclab"), "ssh", name, "cat /proc/sys/kernel/random/boot_id; uname -rv"],
                cwd=ROOT,
                env=e,
                capture_output=True,
                text=True,
                check=False,
                stdin=subprocess.DEVNULL,
                timeout=180,
            )
        except subprocess.TimeoutExpired:
            boots[name] = "ssh failed: no answer in 180 s"
            continue
        boots[name] = proc.stdout.strip() if proc.returncode == 0 else f"ssh failed: {proc.stderr.strip()}"
    return {"inventory": inventory.read_text() if inventory.exists() else None, "vms": boots}


def witness_start(t: Tier) -> dict | None:
    """The sequence `make lab`, then `make test`: a user's lab runs while the tests run. Use the user's
    own lab if it runs, else start one VM of it (the same paths `make lab` takes), and remember it."""
    ue = user_env()
    # a run stopped by SIGKILL cannot resume what it paused: whatever this lab's VMs are, they run
    for pid in witness_pids(ue):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    started = not lab_running(ue)
    if started:
        proc = t.check(
            "start a one-VM user lab (as `make lab` would) to watch during the tests",
            [str(VENV_BIN / "nclab"), "up", "--count", "1"],
            env=ue,
        )
        if proc.returncode != 0:
            return None
    w = {"started": started, "before": lab_fingerprint(ue), "paused": []}
    if started:
        # A VM we started only to watch is paused (SIGSTOP) until the check: idle under TCG it still
        # takes about a tenth of a core for the hour, which the lab's VMs need. Paused, it still
        # catches what the check is for: a killed QEMU, a changed inventory, and a test that reaches
        # for it hangs on it and fails instead of passing. A user's own running lab is never paused.
        for pid in witness_pids(ue):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
                w["paused"].append(pid)
    return w


def witness_pids(e: dict) -> list[int]:
    """The QEMU processes of the lab that `e` names."""
    from nclab.config import LabConfig
    from nclab.errors import LabError
    from nclab.lab import Lab

    lab = Lab(LabConfig.from_env(e))
    try:
        state = lab.load_state() or {}
    except LabError as exc:  # a corrupt state file: nothing to pause or resume; the check reports the lab
        print(f"run_tests: {exc}", flush=True)
        return []
    return [pid for h in state.get("hosts", []) if (pid := lab.pid(h["name"]))]


def witness_resume(w: dict | None) -> None:
    for pid in (w or {}).get("paused", []):
        with contextlib.suppress(ProcessLookupError):  # gone: the check that follows says so
            os.kill(pid, signal.SIGCONT)


def witness_check(t: Tier, w: dict | None) -> None:
    if w is None:
        return
    ue = user_env()
    after = lab_fingerprint(ue)
    same = after == w["before"] and lab_running(ue)
    if after != w["before"]:
        for key in ("inventory", "vms"):
            if after.get(key) != w["before"].get(key):
                print(f"user lab {key} before: {w['before'].get(key)}\nuser lab {key} after:  {after.get(key)}")
    print(f"user lab: {'unchanged' if same else 'CHANGED (see above)'}: {sorted(after['vms'])}", flush=True)
    t.check(
        "the user's lab still runs, unchanged (same inventory, same boots, same kernels)",
        [sys.executable, "-c", f"import sys; sys.exit({0 if same else 1})"],
    )
    if w["started"]:
        subprocess.run([str(VENV_BIN / "nclab"), "down"], cwd=ROOT, env=ue, check=False, stdin=subprocess.DEVNULL)


def module(t: Tier) -> None:
    make = ["make", "-C", "module_src"]
    t.check("module unit tests under ASan/UBSan", [*make, "unit"])
    t.check("ncbench unit tests under ASan/UBSan", [*make, "bench-unit"])
    t.check("fuzz the frame parser (30 s)", [*make, "fuzz", "FUZZ_SECONDS=30"])
    t.check("module build, W=1, no warnings", [*make, "module"])
    t.check("module build against Linux 6.12, W=1, no warnings", [*make, "module-6.12"])
    t.check("sparse C=2, no warnings", [*make, "sparse"])
    t.check("checkpatch --strict, no findings", [*make, "checkpatch"])
    t.check("in-VM tests, loopback peer (256 MiB, 50 load/unload)", [*make, "vmtest"])
    t.check("in-VM tests on Linux 6.12, loopback peer (64 MiB, 10 load/unload)", [*make, "vmtest-6.12"])
    t.check("in-VM tests, two VMs (256 MiB, NetChannel and TCP)", [*make, "vmtest-pair"])
    t.check("in-VM tests, two VMs, the second crashes and boots again", [*make, "vmtest-reboot"])
    t.info = pair_figures(ROOT / "module_src" / "build" / "vm_pair.vm2")  # the client VM prints the rates
    # The same tests on a debug kernel that the kernel role builds (cached by the
    # hash of its inputs, so only the first run pays for the build).
    info = ROOT / "build" / "kernel-debug.json"
    info.parent.mkdir(exist_ok=True)
    info.unlink(missing_ok=True)
    # The build runs on this machine (implicit localhost). Its apt tasks need
    # Debian's python3-apt, so use the system Python, and the linear strategy:
    # Mitogen cannot re-spawn a module under another interpreter, and a local
    # build gains nothing from it.
    e = {**env(), "ANSIBLE_STRATEGY": "linear"}
    proc = t.check(
        "debug kernel (KASAN, lockdep, kmemleak) built by netchannel_kernel_build",
        [
            "ansible-playbook",
            "playbooks/kernel_debug.yml",
            "-e",
            "ansible_python_interpreter=/usr/bin/python3",
            "-e",
            f"netchannel_kernel_debug_info={info}",
        ],
        env=e,
    )
    if proc.returncode == 0:
        debs = json.loads(info.read_text())["artifacts_dir"]
        t.check(
            "in-VM tests on the debug kernel, one VM and two VMs", [*make, "vmtest-debug-debs", f"DEBUG_DEBS={debs}"]
        )


def pair_figures(log: Path) -> str:
    """NetChannel against TCP between the two VMs, from the client VM's log:
    the test program's transfer, then the applications as run_vm.py sums them up."""
    if not log.exists():
        return ""
    text = log.read_text()
    parts = []
    found = re.findall(r"remote throughput netchannel ([\d.]+) MB/s tcp ([\d.]+) MB/s ratio ([\d.]+)", text)
    if found:
        nc, tcp, ratio = found[-1]
        parts.append(f"two VMs: NetChannel {nc} MB/s, TCP {tcp} MB/s, ratio {ratio}")
    apps = run_vm().app_figures(text)
    if apps:
        parts.append(apps)
    return "; ".join(parts)


def run_vm():
    """module_src/tests/vm/run_vm.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("run_vm", ROOT / "module_src" / "tests" / "vm" / "run_vm.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# molecule logs a failed step at ERROR level and colours its verdict even under NO_COLOR
STEP_LINE = re.compile(r"^(?:INFO|WARNING|ERROR)\s+\[(\S+) > (\S+)\] (?:\x1b\[[\d;]*m)?(Executing|Executed: \w+)")


# Ansible's own lines that start a task, and those that end the one before without starting one
TASK_LINE = re.compile(r"^(?:TASK|RUNNING HANDLER) \[(.*)\] \*+\s*$")
TASK_END_LINE = re.compile(r"^PLAY(?: RECAP)? ")
SLOW_TASK = 30.0  # seconds: a task that took longer gets a line of its own


class StepClock:
    """Times molecule's steps from its own "INFO [scenario > step] Executing/Executed" lines, and
    within them every Ansible task that took SLOW_TASK seconds or more (from one task's header to
    the next), so that a log cut short (CI's time limit) still tells where the minutes went."""

    def __init__(self, now=time.monotonic):
        self.now = now
        self.t0 = now()
        self.started: dict[tuple[str, str], float] = {}
        self.step = ""
        self.task: tuple[str, float] | None = None

    def _end_task(self, at: float) -> list[str]:
        if self.task is None:
            return []
        name, began = self.task
        self.task = None
        took = at - began
        if took < SLOW_TASK:
            return []
        return [f"[time]   task {name}: {took:.0f} s ({self.step})"]

    def see(self, line: str) -> str | None:
        task = TASK_LINE.match(line)
        if task or TASK_END_LINE.match(line):
            at = self.now()
            out = self._end_task(at)
            if task:
                self.task = (task.group(1), at)
            return "\n".join(out) or None
        m = STEP_LINE.match(line)
        if not m:
            return None
        key, what = (m.group(1), m.group(2)), m.group(3)
        if what == "Executing" and not line.rstrip().endswith("Executing"):
            return None  # "Executing Testinfra tests found in ...": not a step's start
        at = self.now()
        out = self._end_task(at)
        if what == "Executing":
            self.started[key] = at
            self.step = f"{key[0]} > {key[1]}"
            return "\n".join(out) or None
        took = at - self.started.pop(key, at)
        out.append(f"[time] molecule {key[0]} > {key[1]}: {took:.0f} s (at {at - self.t0:.0f} s)")
        return "\n".join(out)


def molecule(t: Tier, keep_lab: bool) -> None:
    forget_stray_copies()
    witness = None
    try:
        witness = witness_start(t)
        molecule_scenarios(t, keep_lab)
    finally:
        witness_resume(witness)
    witness_check(t, witness)


def molecule_scenarios(t: Tier, keep_lab: bool) -> None:
    te = test_env()
    # Molecule links the test lab's inventory; it must exist (empty while the lab is down).
    subprocess.run([str(VENV_BIN / "nclab"), "inventory"], cwd=ROOT, env=te, check=False, stdin=subprocess.DEVNULL)
    if not lab_running(te):
        # Molecule remembers "created" across runs; the lab may have gone since
        # (nclab down, a reboot). Forget it, so the default scenario boots the lab.
        subprocess.run(["molecule", "reset", "-s", "default"], cwd=ROOT, env=te, check=False, capture_output=True)
    # --all runs the scenarios in name order: lab (back to Debian's kernel), netchannel_kernel (the
    # last VM on our kernel), netchannel_module (on both kernels), netchannel_nic, netchannel_preflight,
    # workloads (every VM back on Debian's kernel, then site.yml end to end: kernel, module, NIC and a
    # tiny smoke run of the experiments).
    cmd = ["molecule", "test", "--all", "--exclude", "default"]
    if keep_lab:
        cmd += ["--destroy", "never"]
    log = ROOT / "build" / "molecule.log"
    log.parent.mkdir(exist_ok=True)
    print(f"\n=== molecule: {' '.join(cmd)} (log: {log})", flush=True)
    clock = StepClock()
    with log.open("w") as fh:

        def on_line(line: str) -> None:
            fh.write(line)
            stamp = clock.see(line)
            if stamp:
                print(stamp, flush=True)
                fh.write(stamp + "\n")

        rc = run_streamed(cmd, on_line, cwd=ROOT, env=te, stdin=subprocess.DEVNULL)
    text = log.read_text()
    tests_passed = sum(int(n) for n in re.findall(r"=+ (\d+) passed", text))
    tests_failed = sum(int(n) for n in re.findall(r"(\d+) failed", text))
    scenarios = re.findall(r"^(\S+)\s+: actions=\d+\s+successful=\d+.*failed=(\d+)", text, re.M)
    t.passed += tests_passed
    t.failed += tests_failed
    bad = [name for name, failed in scenarios if failed != "0"]
    if rc != 0 or bad:
        t.failed += 1
        t.notes.append(f"molecule exit {rc}" + (f", scenarios {', '.join(bad)}" if bad else ""))
        t.digest += [f"--- molecule (exit {rc}); full log: {log}", *failure_digest(text)]
    if tests_passed == 0:
        t.failed += 1
        t.notes.append("no testinfra test ran")
    t.info = f"{len(scenarios) - len(bad)}/{len(scenarios)} scenarios ok, {tests_passed} testinfra tests passed"


def _stop(signum, _frame):
    # SIGTERM (a CI time limit, a killed make) ends the run through the finally blocks: a witness
    # VM this run paused is resumed, not left stopped for the next run to hang on
    raise SystemExit(128 + signum)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGHUP, _stop)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tier", default=",".join(TIERS), help="comma-separated subset of " + ", ".join(TIERS))
    ap.add_argument("--keep-lab", action="store_true", help="leave the lab running after the molecule tier")
    args = ap.parse_args()
    chosen = [x.strip() for x in args.tier.split(",") if x.strip()]
    unknown = [x for x in chosen if x not in TIERS]
    if unknown:
        print(f"run_tests: unknown tier(s) {', '.join(unknown)} (--tier); known: {', '.join(TIERS)}", file=sys.stderr)
        return 2
    results = []
    for name in chosen:
        t = Tier(name)
        if name == "static":
            static(t)
        elif name == "unit":
            unit(t)
        elif name == "module":
            module(t)
        else:
            molecule(t, args.keep_lab)
        t.took = time.monotonic() - t.t0
        results.append(t)
    digest = [line for t in results for line in t.digest[: DIGEST_LINES + 2]]
    if digest:
        print("\n==== what failed (the output above has it all)")
        print("\n".join(digest))
    print("\n==== summary")
    for t in results:
        print(t.line())
    passed, failed = sum(t.passed for t in results), sum(t.failed for t in results)
    print(f"total: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
