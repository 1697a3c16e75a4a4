#!/usr/bin/python
# SPDX-License-Identifier: GPL-2.0-only
"""Tune one NIC to wanted values, checked against what the NIC and kernel can do."""

from __future__ import annotations

DOCUMENTATION = r"""
module: netchannel_nic
short_description: Tune a NIC (link, offloads, queues, RFS/RPS/XPS, IRQ affinity) to what the NIC can do
version_added: "0.1.0"
description:
  - Reads the NIC's capabilities and current values from the host (C(ethtool -k/-g/-l/-c), with C(--json)
    where the installed ethtool has it; C(ip -j link); C(tc -j qdisc); sysctls; C(/sys/class/net/IF/queues/*);
    C(/proc/interrupts) and C(/proc/irq/N/smp_affinity_list) and C(affinity_hint)), computes the difference
    to the wanted values and applies only what differs. Nothing is written when nothing differs, and the
    result is then C(changed=false).
  - Validates everything before changing anything. An interface that does not exist, a CPU outside the
    host's online CPUs, a negative or absurd value fail with a message naming host, interface and value.
  - A request above the NIC's maximum (ring size, channel count, MTU) is clamped to the maximum, with a
    warning. A setting the NIC or kernel cannot do (a fixed feature such as C(ntuple) on virtio-net, a
    missing sysfs file) is skipped and listed in one warning; if it is listed in I(required), the module
    fails naming host, interface and setting, before changing anything.
  - Queue interrupts are found from the driver's naming in C(/proc/interrupts) (C(virtioN-input.M) and
    C(virtioN-output.M) for virtio-net, C(mlx5_compM@pci:ADDR) for mlx5, C(IF-TxRx-M), C(IF-rx-M), C(IF-M)
    for most others). With I(irq_mode=hint) the driver's C(affinity_hint) is followed instead.
  - Link-level changes (MTU, channels, rings, features, coalescing) are made first; queue-level values
    (RFS, RPS, XPS, IRQ affinity) are then planned against the queues that exist afterwards. Every value is
    read back at the end; one that did not take effect is reported as a warning.
  - In check mode reports the changes it would make, touching nothing.
options:
  interface:
    description:
      - The network interface to tune. Required unless I(compare_with) is given (then it defaults to the
        record's interface, and must match it if given).
    type: str
  host:
    description: Name of the host used in messages (the role passes C(inventory_hostname)).
    type: str
    default: this host
  mtu:
    description: Wanted MTU (68..65536); clamped to the NIC's maximum.
    type: int
  rings:
    description: Wanted ring sizes, keys C(rx) and C(tx); clamped to the NIC's maxima.
    type: dict
  channels:
    description: Wanted channel counts, keys C(combined), C(rx), C(tx), C(other); clamped to the maxima.
    type: dict
  features:
    description: Offloads on (true) or off (false), keys C(tso), C(gso), C(gro), C(lro), C(rx), C(tx), C(ntuple).
    type: dict
  arfs:
    description:
      - Accelerated RFS. True turns the C(ntuple-filters) feature on (false off). Drivers without
        C(ndo_rx_flow_steer), such as virtio-net, report it fixed off; then it is unsupported.
    type: bool
  coalesce:
    description:
      - Interrupt coalescing, keys C(rx-usecs), C(rx-frames), C(tx-usecs), C(tx-frames) (int),
        C(adaptive-rx), C(adaptive-tx) (bool).
    type: dict
  root_qdisc:
    description: C(mq) to have an C(mq) root qdisc whose children are the default qdisc; empty to leave it.
    type: str
  sysctls:
    description: Sysctls to set (C(net.core.*), C(net.ipv4.*), C(kernel.sched_autogroup_enabled)), name to value.
    type: dict
  rfs_entries:
    description: C(net.core.rps_sock_flow_entries) (rounded up to a power of two, as the kernel does). Enables RFS.
    type: int
  rps_flow_cnt:
    description: Per receive queue C(rps_flow_cnt); default I(rfs_entries) divided by the number of receive queues.
    type: int
  rps_cpus:
    description: CPUs every receive queue may steer packets to (RPS); unset leaves RPS alone, empty list turns it off.
    type: list
    elements: int
  xps_cpus:
    description: CPUs spread over the transmit queues (XPS), each CPU to exactly one queue.
    type: list
    elements: int
  irq_cpus:
    description:
      - CPUs for the queue interrupts; with I(irq_mode=spread) queue M goes to the M-th CPU of the list (wrapping).
    type: list
    elements: int
  irq_mode:
    description:
      - C(spread) (one queue per CPU of I(irq_cpus)), C(single) (all to the first CPU of I(irq_cpus)),
        C(hint) (the driver's affinity hint). Unset, the profile's, else C(spread).
    type: str
    choices: [spread, single, hint]
  profile:
    description:
      - A named profile whose values are wanted unless an option above gives its own (I(sysctls) merged key by
        key). C(long_flows) (offloads on, MTU 9000, rx ring 1024, 32 combined channels, aRFS and RFS),
        C(short_flows) (the same with offloads off and MTU 1500), C(tcp_irq_baseline) (C(long_flows) without
        aRFS or RFS, every queue interrupt on CPU 4). Empty or unset, no profile (with I(base), the record's).
      - I(record) keeps the profile's name and the options given, so that I(base) can switch profiles later.
    type: str
  base:
    description:
      - Path of a file written by I(record). Its interface and the options that were given when it was written
        are used again, with I(profile) in place of the recorded profile (unset, the recorded one). This is how
        the netchannel_experiments role gives a figure its profile and then puts the NIC stage's values back.
      - A record written without a profile, or before records kept the profile, fails naming the path.
      - Mutually exclusive with the tuning options and I(compare_with).
    type: path
  required:
    description:
      - Settings that must be supported (C(arfs), C(rings), C(rings.rx), C(features.tso), C(rfs), C(irq), ...).
    type: list
    elements: str
    default: []
  warn:
    description: Print the clamping and unsupported-settings warnings (the role turns them off for its dry run).
    type: bool
    default: true
  persist:
    description:
      - Write the wanted values and a copy of this module's engine to C(/usr/local/lib/netchannel-nic/), and
        enable the systemd unit C(netchannel-nic@IF.service) that applies them again at every boot.
        C(false) removes them. Unset leaves them as they are.
    type: bool
  record:
    description:
      - Path of a JSON file that records the wanted values once they are applied (mode 0644, its directory
        made if missing; not written in check mode, nor when the module fails), with C(unmet), the settings
        that still differed after applying (the driver refused or rounded them). Another play can run this
        module in check mode with the recorded values to see whether the NIC still has them, leaving the
        C(unmet) ones aside (I(compare_with) does that).
    type: path
  compare_with:
    description:
      - Path of a file written by I(record). The wanted values are read from it instead of the options
        above, the NIC is compared with them without changing anything (as in check mode), and
        C(drift) lists each setting that no longer has its recorded value, leaving the record's
        C(unmet) aside. A missing file is no failure (C(missing=true)); an unreadable or malformed one
        fails naming the path. The netchannel_experiments role's preflight uses it.
      - Mutually exclusive with the tuning options, I(persist) and I(record).
    type: path
author: NetChannel deployed team
notes:
  - Needs C(ethtool), C(iproute2) (C(ip), C(tc)) and root.
  - Supports check mode.
"""

EXAMPLES = r"""
- name: Long-flow tuning on the data NIC, IRQs over CPUs 0-3, aRFS where the NIC has it
  netchannel.deploy.netchannel_nic:
    interface: ens2f0
    mtu: 9000
    rings: {rx: 1024}
    channels: {combined: 32}
    features: {tso: true, gso: true, gro: true, lro: false}
    root_qdisc: mq
    sysctls:
      net.core.default_qdisc: pfifo_fast
      kernel.sched_autogroup_enabled: 0
    arfs: true
    rfs_entries: 32768
    irq_cpus: [0, 1, 2, 3]

- name: Fail unless the NIC can do aRFS
  netchannel.deploy.netchannel_nic:
    interface: ens2f0
    arfs: true
    rfs_entries: 32768
    required: [arfs]
"""

RETURN = r"""
drift:
  description:
    - With I(compare_with), each setting whose value differs from the record, as
      C(SETTING CURRENT (recorded WANTED)) with both values in JSON; empty when the NIC still has them.
  returned: with compare_with
  type: list
  elements: str
  sample: ["mtu 1500 (recorded 9000)"]
missing:
  description: With I(compare_with), true when the record does not exist (nothing was compared).
  returned: with compare_with
  type: bool
compared_with:
  description: With I(compare_with), its path.
  returned: with compare_with
  type: str
interface:
  description: With I(compare_with), the interface compared (the record's unless I(interface) was given).
  returned: with compare_with
  type: str
reason:
  description:
    - With I(compare_with), when the comparison failed (unreadable or malformed record, interface gone),
      C(msg) without the leading host name, for callers that name the host themselves.
  returned: on failure with compare_with
  type: str
  sample: "compare_with=/var/tmp/netchannel/nic/eth1.json: not a NIC record (a JSON object)"
recorded:
  description: The I(record) path when it was written (or would be, in check mode), else empty.
  returned: without compare_with
  type: str
unmet:
  description: The settings (table rows) that still differ after applying; not returned in check mode.
  returned: when neither in check mode nor with compare_with
  type: list
  elements: str
changes:
  description:
    - The changes made (in check mode, the changes that would be made), each with setting, current, wanted
      and the command or file.
  returned: without compare_with
  type: list
  elements: dict
  sample: [{setting: mtu, current: 1500, wanted: 9000, argv: [ip, link, set, dev, ens4, mtu, "9000"]}]
failed_changes:
  description: Changes the host refused, each with its error.
  returned: without compare_with
  type: list
  elements: dict
unsupported:
  description: Settings skipped because the NIC or kernel cannot do them, each with the reason.
  returned: always
  type: list
  elements: str
  sample: ["arfs (ntuple-filters is fixed by the driver)"]
rows:
  description:
    - The report table, one row per setting with current, wanted and status (ok, change, clamped, unsupported).
  returned: always
  type: list
  elements: dict
table:
  description: I(rows) as text, for printing.
  returned: always
  type: str
state:
  description: What the module read from the host (after applying, outside check mode).
  returned: without compare_with
  type: dict
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

try:
    from ansible_collections.netchannel.deploy.plugins.module_utils import netchannel_nic as engine
except ImportError:  # pragma: no cover - only when run outside the collection
    engine = None


PERSIST_DIR = "/usr/local/lib/netchannel-nic"
UNIT_PATH = "/etc/systemd/system/netchannel-nic@.service"
UNIT_TEXT = """[Unit]
Description=Reapply NetChannel NIC tuning to %I
After=sys-subsystem-net-devices-%i.device
BindsTo=sys-subsystem-net-devices-%i.device

[Service]
Type=oneshot
RemainAfterExit=yes
# Never hold up the boot: nothing waits for this unit, and it gives up after two minutes.
TimeoutStartSec=120
ExecStart=/usr/bin/python3 PERSIST_DIR/netchannel_nic_engine.py PERSIST_DIR/%I.json

[Install]
WantedBy=multi-user.target
""".replace("PERSIST_DIR", PERSIST_DIR)
RUNNER = """

if __name__ == "__main__":
    import sys

    with open(sys.argv[1], encoding="utf-8") as fh:
        wanted = json.load(fh)
    try:
        outcome = run(LocalSystem(), wanted, wanted.get("host") or "this host", False)
    except NicError as exc:
        print(exc, file=sys.stderr)
        sys.exit(1)
    for w in outcome["warnings"]:
        print("warning:", w)
    for c in outcome["changes"]:
        # a setting applied by one command (rings, features) has that command instead of a value pair
        what = " ".join(c["argv"]) if "argv" in c else f"{c.get('current')} -> {c.get('wanted')}"
        print("changed:", c["setting"], what)
    for c in outcome["failed_changes"]:
        print("failed:", c["setting"], c.get("error"), file=sys.stderr)
    sys.exit(1 if outcome["failed_changes"] else 0)
"""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError:
        return None


def _write_atomic(path: str, text: str) -> None:
    """Write text to path (mode 0644, its directory made if missing) so that a reader, a crash or a
    boot in between sees the old file or the new one, never a part (written, synced, renamed)."""
    tmp = f"{path}.tmp"
    try:
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def persistence(module: AnsibleModule, wanted: dict) -> list[str]:
    """Make the reapply-at-boot files match `persist`; the list of what changed."""
    import inspect

    persist = module.params["persist"]
    if persist is None:
        return []
    ifname = wanted["interface"]
    files = {
        f"{PERSIST_DIR}/netchannel_nic_engine.py": inspect.getsource(engine) + RUNNER,
        f"{PERSIST_DIR}/{ifname}.json": json.dumps(wanted, indent=2, sort_keys=True) + "\n",
        UNIT_PATH: UNIT_TEXT,
    }
    unit = f"netchannel-nic@{ifname}.service"
    changed = []
    if persist:
        for path, text in files.items():
            if _read(path) != text:
                changed.append(path)
                if not module.check_mode:
                    try:
                        _write_atomic(path, text)
                    except OSError as exc:
                        module.fail_json(msg=f"{wanted['host']}: persist: cannot write {path}: {exc}", changed=True)
        rc, _, _ = module.run_command(["systemctl", "is-enabled", "--quiet", unit])
        if changed and not module.check_mode:
            module.run_command(["systemctl", "daemon-reload"], check_rc=True)
        if rc != 0:
            changed.append(f"enable {unit}")
            if not module.check_mode:
                module.run_command(["systemctl", "enable", unit], check_rc=True)
    else:
        rc, _, _ = module.run_command(["systemctl", "is-enabled", "--quiet", unit])
        if rc == 0:
            changed.append(f"disable {unit}")
            if not module.check_mode:
                module.run_command(["systemctl", "disable", unit], check_rc=True)
        path = f"{PERSIST_DIR}/{ifname}.json"
        if os.path.exists(path):
            changed.append(f"remove {path}")
            if not module.check_mode:
                os.unlink(path)
    return changed


def record(module: AnsibleModule, wanted: dict, unmet: list, profile: str, explicit: dict) -> str:
    """Write the wanted values to the `record` path if they differ from what it holds; the path if so.
    `unmet`: the rows (setting names) that still differ after applying, so a later check-mode
    comparison does not take what the NIC never accepted for a change since. `profile` and `explicit`
    (the options given) let `base` give the same NIC another profile later."""
    path = module.params["record"]
    if not path:
        return ""
    doc = {**wanted, "unmet": unmet, "profile": profile, "overrides": explicit}
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if _read(path) == text:
        return ""
    if not module.check_mode:
        try:
            _write_atomic(path, text)
        except OSError as exc:
            module.fail_json(msg=f"{wanted['host']}: record={path}: cannot write it: {exc}", changed=True)
    return path


SPEC = {
    "interface": {"type": "str"},
    "host": {"type": "str", "default": "this host"},
    "mtu": {"type": "int"},
    "rings": {"type": "dict"},
    "channels": {"type": "dict"},
    "features": {"type": "dict"},
    "arfs": {"type": "bool"},
    "coalesce": {"type": "dict"},
    "root_qdisc": {"type": "str"},
    "sysctls": {"type": "dict"},
    "rfs_entries": {"type": "int"},
    "rps_flow_cnt": {"type": "int"},
    "rps_cpus": {"type": "list", "elements": "int"},
    "xps_cpus": {"type": "list", "elements": "int"},
    "irq_cpus": {"type": "list", "elements": "int"},
    "irq_mode": {"type": "str", "choices": ["spread", "single", "hint"]},
    "required": {"type": "list", "elements": "str", "default": []},
    "persist": {"type": "bool"},
    "record": {"type": "path"},
    "compare_with": {"type": "path"},
    "warn": {"type": "bool", "default": True},
    "profile": {"type": "str"},
    "base": {"type": "path"},
}
# what a record may hold besides the tuning options: `profile` and `overrides` (the options given) let
# `base` switch its profile
RECORD_EXTRA = ("host", "interface", "unmet", "profile", "overrides")
NOT_TUNING = ("interface", "host", "persist", "record", "compare_with", "warn", "profile", "base")
TUNING = [k for k in SPEC if k not in NOT_TUNING]


def _checked(values: dict, what: str, fail) -> dict:
    """`values` (tuning options read from a file) after the checks the options get (types, choices)."""
    checked = ArgumentSpecValidator({k: SPEC[k] for k in TUNING}).validate(
        {k: values[k] for k in TUNING if values.get(k) is not None}
    )
    if checked.error_messages:
        fail(f"{what}: not a NIC record: {'; '.join(checked.error_messages)}")
    return {k: v for k, v in checked.validated_parameters.items() if v is not None}


def load_record(path: str, option: str, interface: str | None, fail) -> tuple[dict, str, dict]:
    """Read a file written by `record`: (the record, its interface, its wanted values checked).
    Raises FileNotFoundError when there is none; anything else wrong calls fail(reason)."""
    what = f"{option}={path}"
    try:
        with open(path, encoding="utf-8") as fh:
            rec = json.load(fh)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as exc:
        fail(f"{what}: cannot read it as a NIC record: {exc}")
    if not isinstance(rec, dict):
        fail(f"{what}: not a NIC record (a JSON object)")
    unknown = sorted(k for k in rec if k not in TUNING and k not in RECORD_EXTRA)
    if unknown:
        fail(f"{what}: not a NIC record, unknown keys: {', '.join(unknown)}")
    ifname = interface or rec.get("interface")
    if not isinstance(ifname, str) or not ifname:
        fail(f"{what}: the record names no interface")
    if rec.get("interface") not in (None, ifname):
        fail(f"{what} records interface {rec['interface']}, not interface={ifname}")
    unmet = rec.get("unmet") or []
    if not isinstance(unmet, list) or not all(isinstance(u, str) for u in unmet):
        fail(f"{what}: not a NIC record, unmet is not a list of settings: {unmet!r}")
    return rec, ifname, _checked(rec, what, fail)


def compare(module: AnsibleModule) -> None:
    """compare_with: read a record, compare the NIC with it changing nothing, exit with `drift`.
    A failure carries `reason`, its message without the host: callers that name the host
    themselves (the experiments preflight) use it as it is."""
    p = module.params
    path, host = p["compare_with"], p["host"]

    def fail(reason: str) -> None:
        module.fail_json(msg=f"{host}: {reason}", reason=reason, changed=False)

    try:
        rec, ifname, wanted = load_record(path, "compare_with", p["interface"], fail)
    except FileNotFoundError:
        module.exit_json(
            changed=False,
            missing=True,
            drift=[],
            rows=[],
            interface=p["interface"] or "",
            compared_with=path,
            msg=f"no record at {path}",
        )
    unmet = rec.get("unmet") or []
    wanted.update(interface=ifname, host=host)
    try:
        result = engine.run(engine.LocalSystem(), wanted, host, True)
    except engine.NicError as exc:
        # the engine's messages start with the host, as the module's own do
        fail(f"{str(exc).removeprefix(f'{host}: ')} (compare_with={path})")
    drift = [
        f"{r['setting']} {json.dumps(r.get('current'))} (recorded {json.dumps(r.get('wanted'))})"
        for r in result["rows"]
        if r.get("status") == "change" and r.get("setting") not in unmet
    ]
    module.exit_json(
        changed=False,
        missing=False,
        drift=drift,
        interface=ifname,
        compared_with=path,
        profile=rec.get("profile"),
        rows=result["rows"],
        unsupported=result["unsupported"],
        table=engine.format_table(host, ifname, result["rows"]),
    )


def wanted_values(module: AnsibleModule) -> tuple[dict, str, dict]:
    """(the wanted values with interface and host, the profile's name, the options given): from the
    options, or from the `base` record with `profile` in place of the recorded one."""
    p = module.params
    host = p["host"]

    def fail(reason: str) -> None:
        module.fail_json(msg=f"{host}: {reason}", reason=reason, changed=False)

    interface = p["interface"]
    if p["base"]:
        path = p["base"]
        try:
            rec, interface, _ = load_record(path, "base", interface, fail)
        except FileNotFoundError:
            fail(
                f"base={path}: no NIC record there (the netchannel_nic role writes it under netchannel_nic_record_dir)"
            )
        if not isinstance(rec.get("profile"), str) or not isinstance(rec.get("overrides"), dict):
            fail(
                f"base={path}: the record does not keep its profile and the options given (written by an older "
                "collection): apply the NIC stage again (ansible-playbook site.yml --tags nic)"
            )
        if not rec["profile"]:
            fail(f"base={path}: the record was written without a profile, so there is no profile to switch")
        explicit = _checked(rec["overrides"], f"base={path} (overrides)", fail)
        profile = (rec["profile"] if p["profile"] is None else p["profile"]) or ""
    else:
        if not interface:
            # required_one_of sees an option given as null or "" as given
            fail("interface is required (unless compare_with or base is given)")
        explicit = {k: p[k] for k in TUNING if p[k] is not None}
        profile = p["profile"] or ""
    try:
        values = engine.resolve(profile, explicit)
    except engine.NicError as exc:
        fail(f"{'base=' + p['base'] + ', ' if p['base'] else ''}interface {interface}: {exc}")
    return {**values, "interface": interface, "host": host}, profile, explicit


def main() -> None:
    module = AnsibleModule(
        argument_spec=SPEC,
        supports_check_mode=True,
        # before the defaults are filled in: an option given at its default is refused too
        mutually_exclusive=[["compare_with", k] for k in [*TUNING, "persist", "record", "profile", "base"]]
        + [["base", k] for k in TUNING if k != "required"],
        required_one_of=[["interface", "compare_with", "base"]],
    )
    if engine is None:
        module.fail_json(msg="netchannel_nic needs the netchannel.deploy collection's module_utils")
    if module.params["compare_with"]:
        compare(module)
    host = module.params["host"]
    warn = module.params["warn"]
    wanted, profile, explicit = wanted_values(module)
    try:
        result = engine.run(engine.LocalSystem(), wanted, host, module.check_mode)
    except engine.NicError as exc:
        module.fail_json(msg=str(exc), changed=False)
    persisted = persistence(module, wanted)
    result["persistence"] = persisted
    result["changed"] = result["changed"] or bool(persisted)
    result["table"] = engine.format_table(host, wanted["interface"], result["rows"])
    warnings = result.pop("warnings")
    if result["unsupported"]:
        warnings.append(
            f"{host}: interface {wanted['interface']}: skipped, not supported here: {', '.join(result['unsupported'])}"
        )
    for text in warnings if warn else []:
        module.warn(text if text.startswith(host) else f"{host}: interface {wanted['interface']}: {text}")
    if result["failed_changes"]:
        module.fail_json(
            msg=f"{host}: interface {wanted['interface']}: the host refused: "
            + "; ".join(f"{c['setting']} ({c.get('error')})" for c in result["failed_changes"]),
            **result,
        )
    result["recorded"] = record(module, wanted, result.get("unmet", []), profile, explicit)
    result["profile"] = profile
    result["wanted"] = {k: v for k, v in wanted.items() if k != "host"}
    result["changed"] = result["changed"] or bool(result["recorded"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
