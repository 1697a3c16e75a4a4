#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Striping benchmark: one connection from one thread over NetChannel with
1, 2 and 4 bulk channels against one TCP flow, in one VM (its own data
address) or between two VMs (--pair), each figure next to a TCP figure
measured in the same run.

usage: stripe_bench.py [--kernel VMLINUZ] [--module KO] [--runs 3] [--secs 3]
                       [--channels 1,2,4] [--pair] [--json OUT] [--log OUT]

Prints, per workload and channel count, min/median/max over the runs of
the NetChannel figure, the TCP figure and their ratio (each run's
NetChannel figure over the same run's TCP figure), and the figure per busy
guest CPU core (ncbench's cpu_host_busy_cores, the cost of the layer).  The
stream figure is Gbit/s, the message rate figure transactions/s.  Exits 1
if a run failed or bytes did not agree: the figures are then incomplete.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run_vm  # noqa: E402

IPS = ("198.18.0.1", "198.18.0.2")
FIGURE = {"stream": "throughput_gbps", "msgrate": "transactions_per_s"}
LINE = re.compile(r"^NCVM SB (run=.*)$")
COUNT = re.compile(r"^NCVM SBCOUNT (.*)$")


def kv(text):
    return dict(w.split("=", 1) for w in text.split() if "=" in w)


def parse(lines):
    """The client's records and the counters, from a guest's console lines."""
    records, counts = [], []
    for line in lines:
        m = LINE.match(line)
        if m:
            records.append(kv(m.group(1)))
            continue
        m = COUNT.match(line)
        if m:
            counts.append(kv(m.group(1)))
    return records, counts


def problems(records, runs, chans):
    """What is missing or failed: every (run, channels, workload, protocol) must be there, rc 0, bytes agreeing."""
    bad = []
    seen = {(r.get("run"), r.get("bulk"), r.get("workload"), r.get("protocol")): r for r in records}
    for run in range(1, runs + 1):
        for ch in chans:
            for wl, key in FIGURE.items():
                for proto in ("tcp", "netchannel"):
                    r = seen.get((str(run), str(ch), wl, proto))
                    what = f"run {run} bulk {ch} {wl} {proto}"
                    if r is None:
                        bad.append(f"{what}: no result")
                    elif r.get("rc") != "0" or r.get("bytes_agree") not in ("1", "yes") or key not in r:
                        bad.append(f"{what}: rc={r.get('rc')} bytes_agree={r.get('bytes_agree')}")
    return bad


def mmm(values):
    return {"min": min(values), "median": statistics.median(values), "max": max(values), "n": len(values)}


def summarize(records, chans):
    """Per (workload, channels): min/median/max of NetChannel, TCP, ratio and figure per busy core."""
    out = []
    for wl, key in FIGURE.items():
        for ch in chans:
            nc, tcp, ratio, nc_eff, tcp_eff = [], [], [], [], []
            by_run = {}
            for r in records:
                if r.get("workload") == wl and r.get("bulk") == str(ch) and r.get("rc") == "0" and key in r:
                    by_run.setdefault(r["run"], {})[r["protocol"]] = r
            for pair in by_run.values():
                if "tcp" not in pair or "netchannel" not in pair:
                    continue
                a, b = float(pair["netchannel"][key]), float(pair["tcp"][key])
                nc.append(a)
                tcp.append(b)
                if b > 0:
                    ratio.append(a / b)
                ca = float(pair["netchannel"].get("cpu_host_busy_cores", 0) or 0)
                cb = float(pair["tcp"].get("cpu_host_busy_cores", 0) or 0)
                if ca > 0 and cb > 0:
                    nc_eff.append(a / ca)
                    tcp_eff.append(b / cb)
            if not nc:
                continue
            row = {"workload": wl, "figure": key, "channels": ch, "netchannel": mmm(nc), "tcp": mmm(tcp)}
            if ratio:
                row["ratio"] = mmm(ratio)
            if nc_eff:
                row["netchannel_per_core"] = mmm(nc_eff)
                row["tcp_per_core"] = mmm(tcp_eff)
                row["per_core_ratio"] = mmm([x / y for x, y in zip(nc_eff, tcp_eff, strict=True)])
            out.append(row)
    return out


def fmt(m, digits):
    return f"{m['min']:.{digits}f} / {m['median']:.{digits}f} / {m['max']:.{digits}f}"


def table(rows, setting):
    lines = [
        f"{setting}: min / median / max over {rows[0]['netchannel']['n'] if rows else 0} runs",
        "| workload | channels | NetChannel | TCP | ratio | per busy core, ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        digits = 3 if r["workload"] == "stream" else 0
        unit = "Gbit/s" if r["workload"] == "stream" else "transactions/s"
        eff = fmt(r["per_core_ratio"], 2) if "per_core_ratio" in r else "n/a"
        ratio = fmt(r["ratio"], 2) if "ratio" in r else "n/a"
        lines.append(
            f"| {r['workload']} ({unit}) | {r['channels']} | {fmt(r['netchannel'], digits)} | "
            f"{fmt(r['tcp'], digits)} | {ratio} | {eff} |"
        )
    return "\n".join(lines)


def gains(rows):
    """Per workload and channel count n: NetChannel's median with n channels over its median with 1
    ("raw"), and the median NetChannel/TCP ratio with n over that with 1 ("vs_tcp": the gain with
    the run-to-run drift of the machine, which TCP sees too, taken out)."""
    one = {r["workload"]: r for r in rows if r["channels"] == 1}
    out = {}
    for r in rows:
        base = one.get(r["workload"])
        if base is None or r["channels"] == 1:
            continue
        name = f"{r['workload']}_{r['channels']}ch_over_1ch"
        if base["netchannel"]["median"] > 0:
            out[f"{name}_raw"] = r["netchannel"]["median"] / base["netchannel"]["median"]
        if "ratio" in r and "ratio" in base and base["ratio"]["median"] > 0:
            out[f"{name}_vs_tcp"] = r["ratio"]["median"] / base["ratio"]["median"]
    return out


def boot(args, script, script_args, timeout):
    """Boot one VM (args.pair false: role local) or two (serve, client) with the module loaded
    (bulk=2, lat=1) and run /SCRIPT ROLE SCRIPT_ARGS(role, me, peer) in each; the guests, finished
    (their console lines in .lines; the client is the last)."""
    tmp = tempfile.mkdtemp(prefix="ncsb-")
    try:
        bench = run_vm.bench_files(tmp)
        test_bin = os.path.join(tmp, "nc_vmtest")
        subprocess.check_call(
            ["gcc", "-O2", "-Wall", "-static", "-pthread", "-o", test_bin, os.path.join(HERE, "nc_vmtest.c")]
        )
        files = [*bench, (script, os.path.join(HERE, script))]
        guests = []
        e1000 = run_vm.glob.glob(
            f"/lib/modules/{os.path.basename(args.kernel).replace('vmlinuz-', '')}"
            "/kernel/drivers/net/ethernet/intel/e1000/e1000.ko"
        )
        ports = run_vm.free_udp_ports(2) if args.pair else None
        for i in (0, 1) if args.pair else (0,):
            me = IPS[i]
            peer = IPS[1 - i] if args.pair else ""
            role = ("serve", "client")[i] if args.pair else "local"
            if args.pair:
                setup = f"[ -e /e1000.ko ] && insmod /e1000.ko\nip addr add {me}/24 dev eth0\nip link set eth0 up"
                net = [
                    "-netdev",
                    f"socket,id=d0,udp=127.0.0.1:{ports[1 - i]:d},localaddr=127.0.0.1:{ports[i]:d}",
                    "-device",
                    f"{args.nic},netdev=d0,mac=52:54:00:c6:13:{i + 1:02x}",
                ]
            else:
                setup = f"ip addr add {me}/32 dev lo"
                net = []
            initrd = os.path.join(tmp, f"initrd{i}.cpio")
            run_vm.build_initramfs(
                initrd,
                module=args.module,
                test_bin=test_bin,
                loops=0,
                hosts=f"local={me};peers={peer};bulk=2;lat=1;port=9000;cpus=0-1",
                setup=setup,
                role_cmd=f"/{script} {role} {script_args(role, me, peer)}",
                extra_files=files + ([("e1000.ko", e1000[0])] if args.pair and e1000 else []),
            )
            guests.append(run_vm.Guest(f"vm{i + 1}", run_vm.qemu_cmd(args, initrd, net), args.verbose))
        for g in guests:
            g.start()
        for g in guests:
            g.wait(timeout)
        if args.log:
            for g in guests:
                g.save(f"{args.log}.{g.name}" if args.pair else args.log)
    finally:
        run_vm.stop_guests()
        shutil.rmtree(tmp, ignore_errors=True)
    return guests


def parser(doc):
    """The options both benchmarks take (the VMs, the runs, the outputs)."""
    kernels = sorted(p for p in os.listdir("/boot") if p.startswith("vmlinuz-6.1."))
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--kernel", default=os.path.join("/boot", kernels[-1]) if kernels else None)
    ap.add_argument("--module", default=os.path.join(run_vm.SRC, "netchannel", "netchannel.ko"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--secs", type=float, default=3.0)
    ap.add_argument("--pair", action="store_true", help="two VMs, the client on the second")
    ap.add_argument("--nic", default="e1000", choices=("e1000", "virtio-net-pci"))
    ap.add_argument("--mem", default="1024")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--timeout", type=int, default=0, help="seconds for the whole run (default: from the size)")
    ap.add_argument("--json", default=None, help="write the records and the summary here")
    ap.add_argument("--log", default=None, help="write the guests' console here (.vm1/.vm2 with --pair)")
    ap.add_argument("--verbose", action="store_true")
    return ap


def check(args, prog):
    """Exit with a message naming the bad option before anything is built or booted."""
    if not args.kernel or not os.path.exists(args.kernel):
        sys.exit(f"{prog}: error: --kernel {args.kernel}: no such kernel image")
    if not os.path.exists(args.module):
        sys.exit(f"{prog}: error: --module {args.module}: not built (make -C module_src module)")
    if not 1 <= args.runs <= 20:
        sys.exit(f"{prog}: error: --runs {args.runs}: want 1..20")
    if not 0.5 <= args.secs <= 60:
        sys.exit(f"{prog}: error: --secs {args.secs}: want 0.5..60")


def main():
    ap = parser(__doc__)
    ap.add_argument("--channels", default="1,2,4")
    args = ap.parse_args()
    check(args, "stripe_bench.py")
    try:
        chans = [int(c) for c in args.channels.split(",")]
    except ValueError:
        chans = []
    if not chans or any(not 1 <= c <= 16 for c in chans):
        sys.exit(f"stripe_bench.py: error: --channels {args.channels!r}: want a comma list of 1..16")
    per_test = args.secs + 0.5 + 4
    timeout = args.timeout or int(120 + args.runs * len(chans) * (4 * per_test + 10) * (2 if args.pair else 1))
    chan_words = " ".join(str(c) for c in chans)

    guests = boot(
        args, "stripe_bench.sh", lambda role, me, peer: f"{args.runs} {args.secs} '{chan_words}' {me} {peer}", timeout
    )
    client = guests[-1]
    records, counts = parse(client.lines)
    rows = summarize(records, chans)
    bad = problems(records, args.runs, chans)
    setting = "two VMs" if args.pair else "one VM, its own data address"
    print(table(rows, setting))
    for k, v in gains(rows).items():
        print(f"{k}={v:.2f}")
    for c in counts:
        print("counters " + " ".join(f"{k}={v}" for k, v in c.items()))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "setting": setting,
                    "kernel": os.path.basename(args.kernel),
                    "runs": args.runs,
                    "secs": args.secs,
                    "channels": chans,
                    "records": records,
                    "counters": counts,
                    "summary": rows,
                    "gains": gains(rows),
                    "problems": bad,
                },
                fh,
                indent=1,
            )
    for p in bad:
        print(f"stripe_bench: {p}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
