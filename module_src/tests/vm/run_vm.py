#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Boot a Debian 6.1 kernel in QEMU (TCG, no network) with a tiny busybox
initramfs, load netchannel.ko, run nc_vmtest and report a verdict.

usage: run_vm.py [--kernel /boot/vmlinuz-6.1.0-NN-amd64] [--module PATH]
                 [--mib 256] [--loops 5] [--hosts STR] [--timeout 1200]
       run_vm.py --pair [--mib 256] ...

--pair boots two VMs joined by a private QEMU UDP socket link on the host's
loopback (198.18.0.1 and 198.18.0.2, no other network), each with the other as its NetChannel peer,
and transfers data between them over NetChannel and over plain TCP.

--pair --reboot-peer instead kills the second QEMU once the channel mesh is
complete (a crash: no FIN or RST reaches the first VM), boots it again and
checks on the first VM, without reset_channels, that a connection to the
rebooted VM works and that its inbound channels from it are exactly the
configured ones (the stale ones replaced).

Every run ends with a load/unload loop while other processes read
/proc/net/netchannel and the sysctls and write reset_channels (NCVM
HAMMERLOOP); the kernel log check then catches use-after-free on the debug
kernel.

Exit status 0 only if every in-guest check passed.  The guest prints
marker lines on the serial console ("NCVM ...", "NCTEST ...") which are
parsed here; everything else is passed through with --verbose.
"""

import argparse
import contextlib
import functools
import glob
import hashlib
import io
import lzma
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))

# The rebooted VM's listener must be reachable from the survivor within this
# many seconds of the listener being up (host clock; both VMs print a line).
REBOOT_CONNECT_MAX_S = 30
# the one-VM run's own data address (on lo) when it has a fake peer
SELF_ADDR = "198.18.0.1"

# Over-long shell lines are split into adjacent raw literals so the generated
# /init is byte-for-byte the same as one long line.
INIT = (
    r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
ip link set lo up
# A boot's first TCP connect patches a static key (net_get_random_once in inet_ehashfn); under TCG
# another vCPU once met that patch's int3 and oopsed (docs/testing.md). Take it here, alone.
nc -w 1 127.0.0.1 9 </dev/null >/dev/null 2>&1
# Likewise the first memory cgroup: it patches the memcg keys kfree() and the socket paths test (once
# an int3 oops in kfree() on an idle vCPU as the memory cgroup test made its cgroup, under host load).
# The cgroup stays, so its last removal does not patch them back; the tests' cgroups are beside it.
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null && echo +memory > /sys/fs/cgroup/cgroup.subtree_control \
  && mkdir /sys/fs/cgroup/ncwarm 2>/dev/null
{extra_setup}
export NC_VMTEST_TIMEOUT_SCALE={timeout_scale}
echo "NCVM BOOTED $(uname -r)"
dmesg > /boot-dmesg.txt
echo "NCVM KCONFIG kasan=$(grep -c 'KernelAddressSanitizer initialized' /boot-dmesg.txt)"""
    r""" lockdep=$(grep -c 'Lock dependency validator' /boot-dmesg.txt)"""
    r""" kmemleak=$(grep -c 'Kernel memory leak detector' /boot-dmesg.txt)"
# failed loads must unwind completely, or the real load below would fail
if insmod /netchannel.ko hosts='local=1.2.3;bulk=2' 2>/dev/null; then
  echo "NCVM BADPARAM loaded"; rmmod netchannel
else
  echo "NCVM BADPARAM refused"
fi
if insmod /netchannel.ko hosts='local=198.18.250.250' 2>/dev/null; then
  echo "NCVM BADBIND loaded"; rmmod netchannel
else
  echo "NCVM BADBIND refused"
fi
if insmod /netchannel.ko {hosts_arg}; then
  echo "NCVM INSMOD OK"
else
  echo "NCVM INSMOD FAIL"
fi
{after_load}
i=0
while [ $i -lt 50 ] && ! grep -q " up " /proc/net/netchannel 2>/dev/null; do
  sleep 0.2; i=$((i+1))
done
cat /proc/net/netchannel
{role_cmd}
echo "NCVM TEST EXIT $?"
if [ -x /nc_preload_test ]; then
  echo "NCVM PRELOAD none $(/nc_preload_test 7001 2>&1)"
  echo "NCVM PRELOAD all $(LD_PRELOAD=/nc_preload.so /nc_preload_test 7002 2>&1)"
  echo "NCVM PRELOAD port_match $(LD_PRELOAD=/nc_preload.so NC_PRELOAD_PORTS=7003,7103 /nc_preload_test 7003 2>&1)"
  echo "NCVM PRELOAD port_nomatch $(LD_PRELOAD=/nc_preload.so NC_PRELOAD_PORTS=9999 /nc_preload_test 7004 2>&1)"
fi
[ -x /apps.sh ] && NC_APPS_REQUESTS={app_requests} /apps.sh {apps_args}
[ -x /bench.sh ] && NC_BENCH_DUMP={bench_dump} NC_BENCH_URING={bench_uring} /bench.sh {bench_args}
cat /proc/net/netchannel
if [ -e /sys/kernel/debug/kmemleak ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null; then
  if [ -e /sys/kernel/debug/kmemleak ]; then
    sleep 6
    echo scan > /sys/kernel/debug/kmemleak; sleep 1
    echo scan > /sys/kernel/debug/kmemleak
    cat /sys/kernel/debug/kmemleak > /kmemleak.txt
    grep -A12 'unreferenced object' /kmemleak.txt | grep -B8 -A4 '\[netchannel\]'"""
    r""" | sed 's/^/NCVM KMEMLEAKLOG /' | head -60
    echo "NCVM KMEMLEAK_NC $(grep -c 'unreferenced object' /kmemleak.txt) total,"""
    r""" $(grep -c '\[netchannel\]' /kmemleak.txt) netchannel frames"
  fi
fi
/nc_vmtest hold 3 >/dev/null &
sleep 1
if rmmod netchannel 2>/dev/null; then echo "NCVM BUSYRMMOD unexpected"; else echo "NCVM BUSYRMMOD refused"; fi
wait
if rmmod netchannel; then echo "NCVM RMMOD OK"; else echo "NCVM RMMOD FAIL"; fi
ok=0; bad=0; n=0
while [ $n -lt {loops} ]; do
  n=$((n+1))
  if insmod /netchannel.ko {hosts_arg} && sleep 0.3 && rmmod netchannel; then
    ok=$((ok+1))
  else
    bad=$((bad+1))
  fi
done
echo "NCVM LOADLOOP $ok ok $bad failed"
# the same while /proc/net/netchannel, the sysctls and reset_channels are in
# use: unload must remove them before freeing what they show
rm -f /tmp/hammer.stop
/nc_vmtest hammer 900 &
hpid=$!
ok=0; bad=0; n=0
while [ $n -lt {hammer_loops} ]; do
  n=$((n+1))
  if insmod /netchannel.ko {hosts_arg} && sleep 0.5 && rmmod netchannel; then
    ok=$((ok+1))
  else
    bad=$((bad+1))
  fi
done
touch /tmp/hammer.stop
wait $hpid
echo "NCVM HAMMERLOOP $ok ok $bad failed"
dmesg > /dmesg.txt
# count only what happened after boot (the module was loaded after the
# /boot-dmesg.txt snapshot); boot-time reports are shown separately
PAT='BUG:|WARNING:|Oops|general protection|list_del corruption|refcount_t:|UBSAN|KASAN|kernel BUG|INFO: task"""
    r"""|Call Trace|possible recursive locking|circular locking|inconsistent lock state|sleeping function called'
bootlines=$(wc -l < /boot-dmesg.txt)
tail -n +$((bootlines + 1)) /dmesg.txt > /run-dmesg.txt
# ring buffer wrapped: be conservative and look at everything
[ "$(head -1 /dmesg.txt)" = "$(head -1 /boot-dmesg.txt)" ] || cp /dmesg.txt /run-dmesg.txt
issues=$(grep -cE "$PAT" /run-dmesg.txt)
bootissues=$(grep -cE "$PAT" /boot-dmesg.txt)
# each report first, with what follows it (the list below is capped and
# would cut off a report late in the run)
grep -E -A 16 "$PAT" /run-dmesg.txt | sed 's/^/NCVM ISSUE /' | head -120
grep -E "netchannel|$PAT|RIP:" /run-dmesg.txt | sed 's/^/NCVM DMESG /' | head -80
grep -E "$PAT" /boot-dmesg.txt | sed 's/^/NCVM BOOTDMESG /' | head -10
echo "NCVM BOOT_ISSUES $bootissues (before the module was loaded)"
echo "NCVM DMESG_ISSUES $issues"
echo "NCVM DONE"
poweroff -f
"""
)


def cpio_newc(entries):
    """entries: list of (name, mode, data bytes or None for dirs)."""
    out = io.BytesIO()
    ino = 1
    for name, mode, raw in [*entries, ("TRAILER!!!", 0, b"")]:
        data = raw or b""
        nameb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{v:08x}" for v in (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nameb), 0))
        out.write(hdr.encode() + nameb)
        out.write(b"\0" * ((4 - (110 + len(nameb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
        ino += 1
    return out.getvalue()


def read_bytes(path):
    with open(path, "rb") as fh:
        return fh.read()


def loop_module(kernel, tmp):
    """The kernel's loop.ko (uncompressed into tmp) as an initramfs entry, or none.

    The memory cgroup test fills a cgroup with reclaimable page cache read
    from a loop device; kernels without the module (the debug kernel) skip it.
    """
    kver = os.path.basename(kernel).replace("vmlinuz-", "")
    found = sorted(glob.glob(f"/lib/modules/{kver}/kernel/drivers/block/loop.ko*"))
    if not found:
        return []
    if found[0].endswith(".xz"):
        out = os.path.join(tmp, "loop.ko")
        with lzma.open(found[0]) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return [("loop.ko", out)]
    if found[0].endswith(".ko"):
        return [("loop.ko", found[0])]
    return []


def build_initramfs(
    path,
    *,
    module,
    test_bin,
    loops,
    hosts,
    setup,
    role_cmd,
    apps_args="",
    app_requests=10000,
    bench_args="",
    bench_dump=0,
    bench_uring=0,
    extra_files=(),
    timeout_scale=1,
    after_load="",
    module_args="",
):
    hosts_arg = " ".join(a for a in (f"hosts='{hosts}'" if hosts else "", module_args) if a)
    init = INIT.format(
        loops=loops,
        hammer_loops=max(1, min(loops, 10)),
        timeout_scale=timeout_scale,
        hosts_arg=hosts_arg,
        extra_setup=setup,
        after_load=after_load,
        role_cmd=role_cmd,
        apps_args=apps_args,
        app_requests=app_requests,
        bench_args=bench_args,
        bench_dump=bench_dump,
        bench_uring=bench_uring,
    ).encode()
    busybox = read_bytes(shutil.which("busybox") or "/bin/busybox")
    d = stat.S_IFDIR | 0o755
    f = stat.S_IFREG
    dirs = ["bin", "dev", "proc", "sys", "tmp"]
    for name, _ in extra_files:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            if "/".join(parts[:i]) not in dirs:
                dirs.append("/".join(parts[:i]))
    entries = [(n, d, None) for n in dirs]
    entries += [
        ("bin/busybox", f | 0o755, busybox),
        ("init", f | 0o755, init),
        ("netchannel.ko", f | 0o644, read_bytes(module)),
        ("nc_vmtest", f | 0o755, read_bytes(test_bin)),
    ]
    for name, src in dict(extra_files).items():  # the last source of a name wins
        entries.append((name, f | 0o755, read_bytes(src)))
    with open(path, "wb") as fh:
        fh.write(cpio_newc(entries))


def main():
    ap = argparse.ArgumentParser()
    kernels = sorted(glob.glob("/boot/vmlinuz-6.1.0-*-amd64"))
    ap.add_argument("--kernel", default=kernels[-1] if kernels else None)
    ap.add_argument("--module", default=os.path.join(SRC, "netchannel", "netchannel.ko"))
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--loops", type=int, default=5)
    ap.add_argument("--hosts", default="")
    ap.add_argument("--timeout", type=int, default=1200)
    ap.add_argument("--lo-addr", action="append", default=[], help="extra address to put on lo (198.18.0.0/15 only)")
    ap.add_argument(
        "--fake-peer",
        default=None,
        help="an address put on lo and listed as a peer; nc_vmtest plays that peer (connections not yet up)",
    )
    ap.add_argument("--unreachable-peer", default=None, help="configured peer that is down; expect EHOSTUNREACH")
    ap.add_argument("--mem", default="1024")
    ap.add_argument("--smp", default="2")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--pair", action="store_true", help="two VMs on a private link, NetChannel vs TCP between them")
    ap.add_argument("--log", default=None)
    ap.add_argument(
        "--no-apps",
        action="store_true",
        help="skip unmodified iperf3, redis, nginx, haproxy, memcached, sshd and socat through the shim (quick runs)",
    )
    ap.add_argument(
        "--app-requests",
        type=int,
        default=10000,
        help="redis-benchmark requests per test (SET, GET), at least 100; memcslap's 4 threads a tenth each",
    )
    ap.add_argument("--no-bench", action="store_true", help="skip the ncbench runs (quick runs)")
    ap.add_argument(
        "--outsider", default=None, help="an address on lo that the host table lacks (live_fuzz's refused source)"
    )
    ap.add_argument("--only", default="", help="comma-separated nc_vmtest test names: run only these (one VM)")
    ap.add_argument(
        "--bench-dump", action="store_true", help="print ncbench's full outputs (NCVM BENCHOUT lines; with --log)"
    )
    ap.add_argument(
        "--reboot-peer",
        action="store_true",
        help="--pair: kill the second VM once the mesh is up, boot it again, check the first VM recovers",
    )
    ap.add_argument(
        "--timeout-scale", type=int, default=1, help="multiply nc_vmtest's per-test time limits (slow debug kernels)"
    )
    ap.add_argument(
        "--e1000", default="", help="--pair: the kernel's e1000.ko (uncompressed), when it is not under /lib/modules"
    )
    ap.add_argument("--nic", default="e1000", choices=("e1000", "virtio-net-pci"), help="--pair: the VMs' NIC model")
    args = ap.parse_args()
    if not args.kernel or not os.path.exists(args.kernel):
        sys.exit("no kernel: install linux-image-6.1.0-NN-amd64 or pass --kernel")
    if not os.path.exists(args.module):
        sys.exit(f"module {args.module} not built (make -C module_src module)")

    for a in args.lo_addr + [p for p in (args.unreachable_peer, args.fake_peer, args.outsider) if p]:
        if not a.startswith(("127.", "198.18.", "198.19.")):
            sys.exit(f"only loopback and 198.18.0.0/15 addresses are allowed: {a}")
    if args.only and not re.fullmatch(r"[a-z0-9_]+(,[a-z0-9_]+)*", args.only):
        sys.exit(f"run_vm.py: error: --only {args.only!r}: want nc_vmtest test names separated by commas")
    if args.only and args.pair:
        sys.exit("run_vm.py: error: --only applies to the one-VM run, not --pair")
    if args.reboot_peer and not args.pair:
        sys.exit("run_vm.py: error: --reboot-peer needs --pair")
    if args.reboot_peer:
        args.no_apps = args.no_bench = True
    if args.app_requests < 100:
        sys.exit(f"run_vm.py: error: --app-requests {args.app_requests} is below 100")
    tmp = tempfile.mkdtemp(prefix="ncvm-")
    apps = [] if args.no_apps else app_files(tmp)
    bench = [] if args.no_bench else bench_files(tmp)
    test_bin = os.path.join(tmp, "nc_vmtest")
    subprocess.check_call(
        ["gcc", "-O2", "-Wall", "-static", "-pthread", "-o", test_bin, os.path.join(HERE, "nc_vmtest.c")]
    )
    if args.pair:
        rc = run_pair(args, tmp, test_bin, apps, bench)
    else:
        initrd = os.path.join(tmp, "initrd.cpio")
        setup = "\n".join(f"ip addr add {a}/32 dev lo" for a in args.lo_addr)
        if args.fake_peer:
            setup += f"\nip addr add {args.fake_peer}/32 dev lo\nexport NC_VMTEST_FAKE_PEER={args.fake_peer}"
            if not args.hosts:
                # a data address apart from 127/8, as on a real host: listeners
                # bound to 127.0.0.1 and to it must be told apart (listener_address)
                setup += f"\nip addr add {SELF_ADDR}/32 dev lo"
                args.hosts = f"local={SELF_ADDR};peers={args.fake_peer};bulk=2;lat=1;port=9000;cpus=0"
        if args.outsider:
            setup += f"\nip addr add {args.outsider}/32 dev lo\nexport NC_VMTEST_OUTSIDER={args.outsider}"
        if args.only:
            setup += f"\nexport NC_VMTEST_ONLY={args.only}"
        loop = loop_module(args.kernel, tmp)
        if loop:
            setup += "\ninsmod /loop.ko"
        role = f"/nc_vmtest local {args.mib:d} {args.unreachable_peer or ''}"
        build_initramfs(
            initrd,
            module=args.module,
            test_bin=test_bin,
            loops=args.loops,
            hosts=args.hosts,
            setup=setup,
            role_cmd=role,
            apps_args="local",
            app_requests=args.app_requests,
            bench_args="local" if bench else "",
            bench_dump=int(args.bench_dump),
            bench_uring=int(bench_uring(bench)),
            extra_files=build_preload(tmp) + apps + bench + loop,
            timeout_scale=args.timeout_scale,
        )
        vm = start_booted(
            lambda: Guest("vm", qemu_cmd(args, initrd, []), args.verbose, "local" if apps else None, args.app_requests),
            BOOT_LIMIT_S * args.timeout_scale,
        )
        vm.wait(args.timeout)
        if args.log:
            vm.save(args.log)
        rc = verdict([vm], "local" if bench else None, bench_uring(bench))
    shutil.rmtree(tmp, ignore_errors=True)
    return rc


# A guest whose init has not printed its first NCVM line this long after QEMU started is stuck
# before our code runs (a CI run saw a Debian 6.12 guest sit silent and idle for 15 minutes; by
# hand the same image booted in seconds every time).
BOOT_LIMIT_S = 240


def start_booted(make_guest, limit):
    """Start a guest; if its init prints no NCVM line within limit seconds, show what the console
    did print, stop it and boot it once more.  Only a stall before the module is loaded is
    retried: once an NCVM line came, the run counts as it is."""
    for attempt in (1, 2):
        vm = make_guest()
        vm.start()
        if attempt == 2 or vm.wait_prefix("NCVM", limit):
            return vm
        tail = vm.lines[-20:]
        print(
            f"NCVM BOOT_STALL {vm.name}: no NCVM line {limit} s after QEMU started "
            f"({len(vm.lines)} console lines; the last {len(tail)} follow); booting it again",
            flush=True,
        )
        for line in tail:
            print(f"[{vm.name}] {line}", flush=True)
        vm.kill()
    return vm


def build_preload(tmp):
    """LD_PRELOAD shim + a dynamically linked TCP program + glibc."""
    shim_dir = os.path.join(SRC, "shim")
    so = os.path.join(tmp, "nc_preload.so")
    prog = os.path.join(tmp, "nc_preload_test")
    subprocess.check_call(
        ["gcc", "-O2", "-Wall", "-shared", "-fPIC", "-o", so, os.path.join(shim_dir, "nc_preload.c"), "-ldl"]
    )
    subprocess.check_call(["gcc", "-O2", "-Wall", "-o", prog, os.path.join(shim_dir, "nc_preload_test.c")])
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    ld = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    return [
        ("nc_preload.so", so),
        ("nc_preload_test", prog),
        ("lib/x86_64-linux-gnu/libc.so.6", libc),
        ("lib64/ld-linux-x86-64.so.2", ld),
    ]


# Unmodified Debian programs run through the shim (packages iperf3, curl and
# redis-tools; redis-tools' multi-call binary is redis-server when so named).
APPS = {
    "usr/bin/iperf3": "/usr/bin/iperf3",
    "usr/bin/redis-server": "/usr/bin/redis-check-rdb",
    "usr/bin/redis-benchmark": "/usr/bin/redis-benchmark",
    "usr/bin/redis-cli": "/usr/bin/redis-cli",
    "usr/bin/curl": "/usr/bin/curl",
    "usr/bin/ssh": "/usr/bin/ssh",
}
# Programs whose package would start a daemon here if installed: fetched with
# apt-get download and unpacked into a cache named after the package versions
# (path in the guest: path in the package).
MEMC_TOOLS = ("memccp", "memccat", "memcstat", "memcslap")
UNPACKED = {
    "nginx": {"usr/sbin/nginx": "usr/sbin/nginx"},
    "memcached": {"usr/bin/memcached": "usr/bin/memcached"},
    "libmemcached-tools": {f"usr/bin/{t}": f"usr/bin/{t}" for t in MEMC_TOOLS},
    "openssh-server": {"usr/sbin/sshd": "usr/sbin/sshd"},
    "socat": {"usr/bin/socat": "usr/bin/socat"},
    "haproxy": {"usr/sbin/haproxy": "usr/sbin/haproxy"},
    # libraries not installed here (found by ldd in the unpacked tree)
    "libmemcached11": {},
    "libhashkit2": {},
    "libwrap0": {},
    "liblua5.3-0": {},
    "libopentracing-c-wrapper0": {},
    "libopentracing1": {},
}
UNPACKED_LIBS = "usr/lib/x86_64-linux-gnu"
APPS_CACHE = os.path.join(os.path.expanduser("~"), ".cache", "netchannel", "apps")


def shared_libs(binary, root=None):
    """(path in the guest, path here) of every library ldd lists for binary;
    with root, an unpacked tree whose libraries come first (and keep their
    path in it)."""
    env = {**os.environ, "LD_LIBRARY_PATH": os.path.join(root, UNPACKED_LIBS)} if root else None
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True, env=env).stdout
    libs = []
    for line in out.splitlines():
        m = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if m:
            path = m.group(1)
            guest = os.path.relpath(path, root) if root and path.startswith(root + os.sep) else path.lstrip("/")
            libs.append((guest, os.path.realpath(path)))
        elif "not found" in line:
            sys.exit(f"run_vm.py: {binary} needs {line.split()[0]}, which is not installed here")
    return libs


def candidate_version(pkg):
    """The version apt would install of pkg, or None when apt does not know it."""
    out = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", pkg], capture_output=True, text=True, check=False
    ).stdout
    m = re.search(r"^Version: (\S+)$", out, re.M)
    return m.group(1) if m else None


def unpacked_debs(pkgs, cache=APPS_CACHE, version=candidate_version):
    """A directory holding pkgs (Debian packages) unpacked, fetched once per set of versions."""
    wanted = []
    for pkg in pkgs:
        v = version(pkg)
        if not v:
            sys.exit(f"run_vm.py: apt knows no package {pkg} (apt-get update?); --no-apps skips these tests")
        wanted.append(f"{pkg}={v}")
    root = os.path.join(cache, hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:16])
    if os.path.exists(os.path.join(root, ".complete")):
        return root
    os.makedirs(cache, exist_ok=True)
    # a directory of this run's own: two runs at once each unpack, the first to finish wins
    tmp = tempfile.mkdtemp(prefix=os.path.basename(root) + ".", dir=cache)
    try:
        got = subprocess.run(
            ["apt-get", "download", "-q", *wanted], cwd=tmp, capture_output=True, text=True, check=False
        )
        if got.returncode:
            sys.exit(f"run_vm.py: apt-get download {' '.join(wanted)} failed: {got.stderr.strip()[-500:]}")
        for deb in sorted(glob.glob(os.path.join(tmp, "*.deb"))):
            subprocess.run(["dpkg-deb", "-x", deb, tmp], check=True)
            os.remove(deb)
        with open(os.path.join(tmp, ".complete"), "w") as fh:
            fh.write("\n".join(wanted) + "\n")
        if not os.path.exists(os.path.join(root, ".complete")):
            shutil.rmtree(root, ignore_errors=True)  # an unfinished one (no .complete)
            with contextlib.suppress(OSError):  # another run got there first: keep its copy
                os.rename(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root


def ssh_keys(tmp):
    """sshd's host key, the client's key and its authorized_keys, made for this
    run (the same in both VMs of a pair), as initramfs entries."""
    if not shutil.which("ssh-keygen"):
        sys.exit("run_vm.py: ssh-keygen not installed (apt install openssh-client); --no-apps skips these tests")
    for name in ("host_key", "id"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"netchannel-vmtest-{name}", "-f", f"{tmp}/{name}"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
    shutil.copy(f"{tmp}/id.pub", f"{tmp}/authorized_keys")
    return {f"ssh/{n}": f"{tmp}/{n}" for n in ("host_key", "id", "authorized_keys")}


def app_files(tmp):
    """The applications and their libraries, plus the script that drives them
    and the ssh keys (made in tmp)."""
    missing = [src for src in APPS.values() if not os.path.exists(src)]
    if missing:
        sys.exit(
            f"run_vm.py: {', '.join(missing)} not installed (apt install iperf3 redis-tools curl openssh-client, "
            "or make bootstrap); --no-apps skips these tests"
        )
    files = dict(APPS)
    root = unpacked_debs(sorted(UNPACKED))
    for pkg in UNPACKED.values():
        files.update((guest, os.path.join(root, src)) for guest, src in pkg.items())
    for src in list(files.values()):
        files.update(shared_libs(src, root))
    files["apps.sh"] = os.path.join(HERE, "apps.sh")
    files.update(ssh_keys(tmp))
    return sorted(files.items())


# The APP lines apps.sh prints in each role; see check_apps().
APP_CLIENTS = tuple(
    f"{a}-{m}" for a in ("iperf3", "redis", "nginx", "haproxy", "memcached", "ssh", "socat") for m in ("nc", "tcp")
)
APP_SERVERS = (
    *(f"{c}-server" for c in APP_CLIENTS),
    *(f"{a}-{m}-up" for a in ("nginx", "haproxy", "memcached", "ssh") for m in ("nc", "tcp")),
)
SSH_PORTS = {"nc": "2222", "tcp": "2223"}  # apps.sh's SSH_NC and SSH_TCP


def web_bytes(requests):
    """What curl uploads to nginx and fetches back (apps.sh's WEB_MIB)."""
    return min(8, max(1, requests // 1000)) << 20


MEMC_ITEM = 512 << 10  # the item memccp stores and memccat reads back
MEMC_THREADS = 4  # memcslap's, each making a tenth of the requests (apps.sh)
APPS_EXPECT = {"local": APP_CLIENTS + APP_SERVERS, "serve": APP_SERVERS, "client": APP_CLIENTS}


def app_results(text):
    """{name: {key: value}} from the 'NCVM APP name k=v ...' lines."""
    found = {}
    for m in re.finditer(r"^(?:\[\w+\] )?NCVM APP (\S+) (.*)$", text, re.M):
        found[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
    return found


def num(kv, key):
    """kv[key] as a number, or None when it is missing or garbled (a kernel
    message printed into the middle of the line, say)."""
    try:
        return float(kv[key])
    except (KeyError, ValueError):
        return None


def tcp_sockets_check(kv, nc, what):
    """The TCP sockets seen on the application's port: none through the shim
    (what names them then), some over TCP (else the count sees nothing)."""
    tcp = kv.get("tcp_sockets", "")
    if nc and tcp != "0":
        return [f"tcp_sockets={tcp}: {what}, want 0 (shim not used)"]
    if not nc and (not tcp.isdigit() or tcp == "0"):
        return [f"tcp_sockets={tcp} for the TCP baseline: the socket check sees nothing"]
    return []


def nc_bytes_check(name, kv, least, what):
    """Through the shim (a name ending in -nc) NetChannel's send counter moved
    at least least bytes while the client ran; what names them."""
    if name.endswith("-nc") and (num(kv, "nc_tx_bytes") or 0) < least:
        return [f"nc_tx_bytes={kv.get('nc_tx_bytes')}: {what} did not go through NetChannel"]
    return []


def check_up(name, kv):
    """What is wrong with a server's start (nginx, memcached): it runs, and
    listens on the right protocol."""
    bad = []
    app = name.split("-")[0]
    if not kv.get("pid", "").isdigit():
        bad.append(f"pid={kv.get('pid')}: {app} did not start")
    return bad + tcp_sockets_check(kv, name.endswith("-nc-up"), f"{app} listens on TCP")


def check_memc(name, kv, requests):
    """What is wrong with the memcached client's results."""
    bad = []
    per_thread = requests // 10
    keys = MEMC_THREADS * per_thread  # what each memcslap run sets or gets
    if kv.get("bytes") != "ok":
        bad.append(f"bytes={kv.get('bytes')} (memccat's item differs from what memccp stored)")
    # memcslap's GET run first loads per_thread keys; memccp adds one SET, memccat one GET
    for key, want in (("cmd_set", keys + per_thread + 1), ("cmd_get", keys + 1), ("get_hits", keys + 1)):
        if (num(kv, key) or 0) < want:
            bad.append(f"{key}={kv.get(key)} (want >= {want})")
    if not re.fullmatch(r"SET=\d+,GET=\d+", kv.get("rps", "")):
        bad.append(f"rps={kv.get('rps')} (memcslap printed no rates)")
    return bad + nc_bytes_check(name, kv, MEMC_ITEM, f"the {MEMC_ITEM}-byte item")


def check_web(name, kv, requests):
    """What is wrong with curl's transfers against nginx."""
    bad = []
    size = web_bytes(requests)
    if kv.get("put_code") not in ("201", "204"):
        bad.append(f"put_code={kv.get('put_code')} (want 201 or 204: the upload stored)")
    if kv.get("get_code") != "200" or kv.get("get_bytes") != str(size):
        bad.append(f"get_code={kv.get('get_code')} get_bytes={kv.get('get_bytes')} (want 200 and {size})")
    if kv.get("bytes") != "ok":
        bad.append(f"bytes={kv.get('bytes')} (what came back differs from what went up)")
    if kv.get("small_ok_conns") != "200/1":
        bad.append(f"small_ok_conns={kv.get('small_ok_conns')} (want 200 answers over 1 connection)")
    bad += nc_bytes_check(name, kv, size, f"the {size}-byte upload")
    if kv.get("v6_code") != "200":
        bad.append(f"v6_code={kv.get('v6_code')} (want 200 from http://[::ffff:server]/)")
    # with the shim, the request (about 90 bytes) goes through NetChannel
    if name.endswith("-nc") and (num(kv, "v6_nc_tx_bytes") or 0) < 64:
        bad.append(
            f"v6_nc_tx_bytes={kv.get('v6_nc_tx_bytes')}: the IPv6 socket's request did not go through NetChannel"
        )
    return bad


def check_ssh(name, kv, requests, *, role):
    """What is wrong with ssh's session against sshd (in one VM, role local,
    sshd sees the client at 127.0.0.1 as over TCP; from the other VM, at an
    IPv4 address that is not its own)."""
    bad = []
    size = web_bytes(requests)
    mode = name.split("-")[1]
    if kv.get("bytes") != "ok":
        bad.append(f"bytes={kv.get('bytes')} (what came back through the remote cat differs from what went)")
    if kv.get("exit7") != "7":
        bad.append(f"exit7={kv.get('exit7')} (want 7: the remote command's exit status)")
    addr, client = kv.get("server_addr", ""), kv.get("client_addr", "")
    ipv4 = r"\d+\.\d+\.\d+\.\d+"
    if (
        not re.fullmatch(ipv4, addr)
        or (role == "local" and addr != "127.0.0.1")
        or kv.get("server_port") != SSH_PORTS[mode]
    ):
        where = "127.0.0.1" if role == "local" else "sshd's IPv4 address"
        bad.append(
            f"server_addr={addr} server_port={kv.get('server_port')} "
            f"(want {where} and port {SSH_PORTS[mode]} in SSH_CONNECTION)"
        )
    if role == "local" and client != "127.0.0.1":
        bad.append(f"client_addr={client} (want 127.0.0.1 in SSH_CONNECTION: a local client, as over TCP)")
    if role != "local" and (not re.fullmatch(ipv4, client) or client == addr):
        bad.append(f"client_addr={client} (want the client VM's IPv4 address in SSH_CONNECTION)")
    if kv.get("client_errors") != "0":
        bad.append(f"client_errors={kv.get('client_errors')} (ssh printed errors)")
    bad += nc_bytes_check(name, kv, size, f"the {size} bytes sent")
    return bad + tcp_sockets_check(kv, mode == "nc", "ssh's connection is TCP")


def check_hap(name, kv, requests, *, role):
    """What is wrong with curl's requests through haproxy to nginx."""
    bad = []
    if kv.get("get_code") != "200" or kv.get("bytes") != "ok":
        bad.append(
            f"get_code={kv.get('get_code')} bytes={kv.get('bytes')} "
            "(want 200 and the upload nginx stored, byte for byte, through haproxy)"
        )
    if kv.get("small_ok_conns") != "50/1":
        bad.append(f"small_ok_conns={kv.get('small_ok_conns')} (want 50 answers over 1 connection through haproxy)")
    # in one VM the counter also holds haproxy's and nginx's sends; from the other VM only the requests
    least = web_bytes(requests) if role == "local" else 64
    if name.endswith("-nc") and (num(kv, "nc_tx_bytes") or 0) < least:
        bad.append(f"nc_tx_bytes={kv.get('nc_tx_bytes')} (want >= {least}: the transfer did not go through NetChannel)")
    return bad


def check_socat(name, kv, requests):
    """What is wrong with socat's half-closed exchange."""
    bad = []
    if kv.get("sum") != "ok":
        bad.append(
            f"sum={kv.get('sum')} (the server's sha256sum of what it read to the client's EOF, "
            "sent back over the half-closed connection, differs)"
        )
    size = web_bytes(requests)
    return bad + nc_bytes_check(name, kv, size, f"the {size} bytes sent")


def check_app(name, kv, requests, role):
    """What is wrong with one application's result (empty if nothing); role
    is the guest's (apps.sh's)."""
    bad = [f"{k}={v}" for k, v in kv.items() if k.endswith("_rc") and v != "0"]
    for key in ("mbytes", "mbits", "nc_tx_bytes", "commands", "get_bps", "cmd_set", "cmd_get", "get_hits"):
        if key in kv and num(kv, key) is None:
            bad.append(f"{key}={kv[key]!r} is not a number")
    if bad:
        return bad
    if name.endswith("-server"):
        if kv.get("log_errors", "0") != "0":
            bad.append(f"log_errors={kv['log_errors']} (alerts or crashed workers in the server's error log)")
        return bad
    if name.endswith("-up"):
        return check_up(name, kv)
    named = {
        "nginx": check_web,
        "memcached": check_memc,
        "ssh": functools.partial(check_ssh, role=role),
        "socat": check_socat,
        "haproxy": functools.partial(check_hap, role=role),
    }
    if name.split("-")[0] in named:
        return named[name.split("-")[0]](name, kv, requests)
    bad += tcp_sockets_check(kv, name.endswith("-nc"), "TCP sockets on the application port")
    if name.startswith("iperf3"):
        moved = num(kv, "mbytes") or 0
        if (num(kv, "mbits") or 0) <= 0 or moved < 1:
            bad.append(f"mbits={kv.get('mbits')} mbytes={kv.get('mbytes')}: want some rate and at least 1 MiB")
        # iperf3 rounds what it prints to 3 digits; the counter also holds headers
        if name.endswith("-nc") and (num(kv, "nc_tx_bytes") or 0) < 0.99 * moved * 2**20:
            bad.append(f"nc_tx_bytes={kv.get('nc_tx_bytes')}: less than the {kv.get('mbytes')} MiB iperf3 moved")
    else:
        if (num(kv, "commands") or 0) < 2 * requests:
            bad.append(f"commands={kv.get('commands')} (want >= {2 * requests}: SET and GET)")
        if kv.get("roundtrip") != "ok":
            bad.append(f"roundtrip={kv.get('roundtrip')} (SET then GET of a random value)")
        if kv.get("bench_key") != "1":
            bad.append(f"bench_key={kv.get('bench_key')} (the benchmark's key is missing)")
        if not re.fullmatch(r"SET=[\d.]+,GET=[\d.]+", kv.get("rps", "")):
            bad.append(f"rps={kv.get('rps')}")
        if name.endswith("-nc") and (num(kv, "nc_tx_bytes") or 0) <= 0:
            bad.append("nc_tx_bytes=0: nothing went through NetChannel")
    return bad


def check_apps(text, role, requests):
    """Problems with the applications run in this guest's role."""
    found = app_results(text)
    out = []
    for name in APPS_EXPECT[role]:
        if name not in found:
            out.append(f"{name}: no result")
        elif bad := check_app(name, found[name], requests, role):
            out.append(f"{name}: {', '.join(bad)}")
    return out


def app_figures(text):
    """One line comparing NetChannel with TCP for the applications, from the
    guests' console text (tools/run_tests.py reads it from the saved logs)."""
    found = app_results(text)
    parts = []
    nc, tcp = num(found.get("iperf3-nc", {}), "mbits"), num(found.get("iperf3-tcp", {}), "mbits")
    if nc is not None and tcp:
        parts.append(f"iperf3 NetChannel {nc:g} Mbit/s TCP {tcp:g} Mbit/s ratio {nc / tcp:.2f}")
    for app in ("redis", "memcached"):
        for op in ("SET", "GET"):
            rps = {}
            for m in ("nc", "tcp"):
                hit = re.search(rf"{op}=([\d.]+)", found.get(f"{app}-{m}", {}).get("rps", ""))
                if hit:
                    rps[m] = float(hit.group(1))
            if len(rps) == 2 and rps["tcp"]:
                ratio = rps["nc"] / rps["tcp"]
                parts.append(f"{app} {op} NetChannel {rps['nc']:.0f}/s TCP {rps['tcp']:.0f}/s ratio {ratio:.2f}")
    nc, tcp = (num(found.get(f"nginx-{m}", {}), "get_bps") for m in ("nc", "tcp"))
    if nc is not None and tcp:
        rates = f"NetChannel {nc / 1e6:.1f} MB/s TCP {tcp / 1e6:.1f} MB/s ratio {nc / tcp:.2f}"
        parts.append(f"nginx to curl (sendfile) {rates}")
    return "; ".join(p for p in parts if p)


LIBURING = ("/usr/include/liburing.h", "/usr/lib/x86_64-linux-gnu/liburing.a")


NCKV_ONLY = ("nckv.c", "nb_kv.c")


def bench_files(tmp):
    """ncbench (static, like nc_vmtest; with io_uring when liburing-dev is
    installed) and the script that runs it."""
    src = os.path.join(SRC, "bench")
    binary = os.path.join(tmp, "ncbench")
    cmd = ["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-static", "-pthread", "-DNB_STATIC", "-o", binary]
    libs = ["-lm"]
    if all(os.path.exists(p) for p in LIBURING):
        cmd.append("-DNB_HAVE_URING")
        libs = ["-luring", "-lm"]
    # ncbench's sources: every file but nckv's (another program, with its own main)
    sources = [f for f in sorted(glob.glob(os.path.join(src, "*.c"))) if os.path.basename(f) not in NCKV_ONLY]
    subprocess.check_call(cmd + sources + libs)
    return [("ncbench", binary), ("bench.sh", os.path.join(HERE, "bench.sh"))]


def bench_uring(bench):
    """The guests' ncbench can do io_uring (bench_files built it with liburing)."""
    return bool(bench) and all(os.path.exists(p) for p in LIBURING)


BENCH_TESTS = [f"{w}-{p}" for w in ("stream", "rr", "msgrate") for p in ("tcp", "netchannel")]
BENCH_URING_TESTS = [f"rr-uring-{p}" for p in ("tcp", "netchannel")]


def uring_expected(text, built):
    """The io_uring runs are due: ncbench was built with liburing and the
    guest kernel has io_uring (bench.sh says "NCVM BENCHURING no" otherwise)."""
    return built and not re.search(r"^(?:\[\w+\] )?NCVM BENCHURING no\b", text, re.M)


def bench_results(text):
    """({test: kv} of the clients, {test: kv} of the servers, {protocol: kv} of the kill tests)."""
    line = r"^(?:\[\w+\] )?NCVM {}(.*)$"
    clients, servers, kills = {}, {}, {}
    for m in re.finditer(line.format(r"BENCH (\S+) "), text, re.M):
        clients[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
    for m in re.finditer(line.format("BENCHSRV "), text, re.M):
        kv = dict(kv.split("=", 1) for kv in m.group(1).split() if "=" in kv)
        uring = "-uring" if kv.get("uring") == "1" else ""
        servers[f"{kv.get('workload')}{uring}-{kv.get('protocol')}"] = kv
    for m in re.finditer(line.format(r"BENCHKILL (\S+) "), text, re.M):
        kills[m.group(1)] = dict(kv.split("=", 1) for kv in m.group(2).split() if "=" in kv)
    return clients, servers, kills


def check_bench(text, kill, uring=False):
    """Every workload over both protocols ran (with uring, rr through io_uring
    too), and both ends counted the same bytes (each end's own output); with
    kill, a killed server failed the client quickly with one error line."""
    clients, servers, kills = bench_results(text)
    out = []
    for name in BENCH_TESTS + (BENCH_URING_TESTS if uring else []):
        c, s = clients.get(name), servers.get(name)
        if c is None or s is None:
            out.append(f"{name}: no {'client' if c is None else 'server'} result")
            continue
        if c.get("rc") != "0" or s.get("rc") != "0":
            out.append(f"{name}: exit status client {c.get('rc')} server {s.get('rc')}")
            continue
        if c.get("bytes_agree") != "yes":
            out.append(f"{name}: the client saw bytes_agree={c.get('bytes_agree')}")
        for mine, theirs in (("tx_bytes", "rx_bytes"), ("rx_bytes", "tx_bytes")):
            if c.get(mine) != s.get(theirs):
                out.append(f"{name}: client {mine}={c.get(mine)} but server {theirs}={s.get(theirs)}")
        if (num(c, "tx_bytes") or 0) <= 0:
            out.append(f"{name}: nothing sent")
        if not name.startswith("stream") and (num(c, "latency_count") or 0) <= 0:
            out.append(f"{name}: no latency samples")
        if name.startswith("stream") and (num(c, "interval_rows") or 0) < 2:
            out.append(f"{name}: interval_rows={c.get('interval_rows')} (want >= 2 CSV samples)")
    for proto in ("tcp", "netchannel") if kill else ():
        k = kills.get(proto)
        if k is None:
            out.append(f"killed server over {proto}: no result")
        elif k.get("rc") != "1" or k.get("lines") != "1" or not k.get("err", "").startswith("ncbench:_error:"):
            out.append(f"killed server over {proto}: rc={k.get('rc')} lines={k.get('lines')} err={k.get('err')}")
        elif (num(k, "secs") or 99) > 6:
            out.append(f"killed server over {proto}: the client took {k.get('secs')} s to notice (want < 6)")
    return out


def bench_figures(text):
    """One line: each workload's NetChannel and TCP figures from the clients
    (stream: what the receiving server counted)."""
    clients, _, _ = bench_results(text)
    parts = []
    for wl, key, unit in (
        ("stream", "remote_throughput_gbps", "Gbit/s"),
        ("rr", "transactions_per_s", "/s"),
        ("rr-uring", "transactions_per_s", "/s"),
        ("msgrate", "transactions_per_s", "/s"),
    ):
        nc, tcp = num(clients.get(f"{wl}-netchannel", {}), key), num(clients.get(f"{wl}-tcp", {}), key)
        if nc is not None and tcp:
            parts.append(f"{wl} NetChannel {nc:g} TCP {tcp:g} {unit} ratio {nc / tcp:.2f}")
    for t in ("rr", "rr-uring"):
        for p in ("netchannel", "tcp"):
            if (v := clients.get(f"{t}-{p}", {}).get("latency_p99_us")) is not None:
                parts.append(f"{t} p99 {p} {v} us")
    return "; ".join(parts)


# reuseport: a second SO_REUSEPORT listener shares the port; bufs_default: the listener, which set
# no buffer size, has a fresh socket's (a swap at bind() copies only the options the program changed);
# sndbuf_kept: the client's SO_SNDBUF, set to half of a fresh socket's (it reads back as the default),
# survives the swap at connect(). Then AF_INET6: a dual-stack listener on "::" and a client to
# ::ffff:127.0.0.1 move to NetChannel (v6_*=19) and still look like IPv6 sockets (v6_view=ok: the
# same addresses and options as over TCP, the "none" case), a listener on ::1 stays TCP.
_PRELOAD_KEPT = "nonblock_kept=1 cloexec_kept=1 data=hello reuseport=1 bufs_default=1 sndbuf_kept=1"
_V6_TCP = "v6_listener=6 v6_client=6 v6_accepted=6 v6_loopback=6 v6_view=ok v6_data=hello"
_V6_NC = "v6_listener=19 v6_client=19 v6_accepted=19 v6_loopback=6 v6_view=ok v6_data=hello"
PRELOAD_EXPECT = {
    "none": f"listener=6 client=6 accepted=6 {_PRELOAD_KEPT} {_V6_TCP}",
    "all": f"listener=19 client=19 accepted=19 {_PRELOAD_KEPT} {_V6_NC}",
    "port_match": f"listener=19 client=19 accepted=19 {_PRELOAD_KEPT} {_V6_NC}",
    "port_nomatch": f"listener=6 client=6 accepted=6 {_PRELOAD_KEPT} {_V6_TCP}",
}


def qemu_cmd(args, initrd, net):
    return [
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-machine",
        "q35",
        "-cpu",
        "max",
        "-m",
        args.mem,
        "-smp",
        args.smp,
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        *net,
        "-kernel",
        args.kernel,
        "-initrd",
        initrd,
        "-append",
        "console=ttyS0 panic=-1 oops=panic quiet loglevel=4",
    ]


# Every QEMU this process started: stopped when run_vm.py is stopped.
RUNNING = []


def die_with_us(cmd):
    """cmd under util-linux's setpriv --pdeathsig: the kernel kills it when run_vm.py dies, even by
    SIGKILL (set before exec, so no Python code runs in the forked child)."""
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else list(cmd)


def stop_guests():
    """Kill and reap every QEMU still running (run_vm.py stopped early, or an error)."""
    while RUNNING:
        proc = RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _stopped_by_signal(signum, frame):
    stop_guests()
    sys.exit(128 + signum)


def install_stop_handlers():
    """SIGTERM, SIGHUP and SIGINT (a test runner's timeout, a closed terminal, ^C) stop the VMs too."""
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _stopped_by_signal)


class Guest:
    def __init__(self, name, cmd, verbose, apps=None, app_requests=10000):
        self.name, self.cmd, self.verbose = name, cmd, verbose
        self.apps, self.app_requests = apps, app_requests
        self.lines = []
        self.stamps = []  # (host time, line) of the NCTEST INFO lines
        self.proc = None
        self.thread = None
        self.t0 = 0

    def start(self):
        self.t0 = time.time()
        self.proc = subprocess.Popen(
            die_with_us(self.cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        RUNNING.append(self.proc)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.lines.append(line)
            if line.startswith("NCTEST INFO"):
                self.stamps.append((time.time(), line))
            if self.verbose or line.startswith(("NCVM", "NCTEST")):
                print(f"[{self.name}] {line}", flush=True)
            if "NCVM DONE" in line:
                break

    def wait(self, timeout):
        self.thread.join(max(1, self.t0 + timeout - time.time()))
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.elapsed = time.time() - self.t0

    def wait_prefix(self, prefix, timeout):
        """Wait until the guest printed a line starting with prefix; False if it did not in time."""
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            if any(line.startswith(prefix) for line in self.lines):
                return True
            time.sleep(0.2)
        return any(line.startswith(prefix) for line in self.lines)

    def stamp(self, text):
        """Host time of the first NCTEST INFO line containing text, or None."""
        return next((t for t, line in self.stamps if text in line), None)

    def wait_line(self, text, timeout):
        """Wait until an NCTEST INFO line contains text; its host time or None."""
        end = time.time() + timeout
        while time.time() < end and self.proc.poll() is None:
            if (t := self.stamp(text)) is not None:
                return t
            time.sleep(0.2)
        return self.stamp(text)

    def kill(self):
        """Pull the plug: the guest gets no chance to close anything."""
        self.proc.kill()
        self.proc.wait()
        self.thread.join(5)
        self.elapsed = time.time() - self.t0

    def save(self, path):
        with open(path, "w") as fh:
            fh.write("\n".join(self.lines) + "\n")

    def problems(self):
        text = "\n".join(self.lines)
        out = []
        if "NCVM INSMOD OK" not in text:
            out.append("module did not load")
        m = re.search(r"NCTEST SUMMARY (\d+) passed, (\d+) failed", text)
        if not m:
            out.append("test program did not finish")
        elif int(m.group(2)) or not int(m.group(1)):
            names = [f"{n} ({why[:160]})" for n, why in re.findall(r"^NCTEST FAIL (\S+) ?(.*)$", text, re.M)]
            out.append(f"{m.group(2)} in-guest tests failed" + (": " + ", ".join(names) if names else ""))
        if "NCVM RMMOD OK" not in text:
            out.append("rmmod failed")
        if "NCVM AUTHKEY set" in text:
            out += auth_problems(text)
        m5 = re.search(r"NCVM KMEMLEAK_NC (\d+) total, (\d+) netchannel frames", text)
        if m5 and int(m5.group(2)):
            out.append("kmemleak reports objects allocated by netchannel")
        for marker in ("NCVM BADPARAM refused", "NCVM BADBIND refused"):
            if marker not in text:
                out.append(f"expected '{marker}'")
        if "NCVM BUSYRMMOD refused" not in text:
            out.append("rmmod with an open socket was not refused")
        m2 = re.search(r"NCVM LOADLOOP (\d+) ok (\d+) failed", text)
        if not m2 or int(m2.group(2)):
            out.append("load/unload loop failed")
        m6 = re.search(r"NCVM HAMMERLOOP (\d+) ok (\d+) failed", text)
        if not m6 or int(m6.group(2)) or not int(m6.group(1)):
            out.append("load/unload loop under /proc and sysctl readers failed")
        m3 = re.search(r"NCVM DMESG_ISSUES (\d+)", text)
        if not m3 or int(m3.group(1)):
            first = re.search(r"^NCVM ISSUE (.*)$", text, re.M)
            out.append("kernel log has warnings/oopses" + (f", the first: {first.group(1)[:200]}" if first else ""))
        if "NCVM DONE" not in text:
            out.append("guest did not finish in time")
        for case, want in PRELOAD_EXPECT.items():
            m4 = re.search(rf"NCVM PRELOAD {case} (.*)", text)
            if "NCVM PRELOAD" in text and (not m4 or want not in m4.group(1)):
                out.append("LD_PRELOAD shim case {}: {}".format(case, m4.group(1) if m4 else "missing"))
        if self.apps:
            out += [f"application {p}" for p in check_apps(text, self.apps, self.app_requests)]
        self.passed = int(m.group(1)) if m else 0
        self.failed = int(m.group(2)) if m else 0
        return out


def auth_problems(text):
    """With a cluster key set, the channels to and from the peer must have authenticated.

    Read from the last /proc/net/netchannel dump the guest printed (after its tests).
    """
    ok = re.findall(r"^auth_ok (?:\d+ )+(\d+)$", text, re.M)
    if not re.search(r"^auth key_id [0-9a-f]{16}$", text, re.M):
        return ["the module does not show the cluster key's id"]
    # at least the 3 channels to the peer and the peer's 3 to it (bulk=2;lat=1)
    if not ok or int(ok[-1]) < 6:
        return [f"{ok[-1] if ok else 0} channel handshakes passed with the cluster key, want 6 or more"]
    return []


def verdict(guests, bench=None, uring=False, extra=()):
    problems = list(extra)
    for g in guests:
        problems += [f"{g.name}: {p}" for p in g.problems()]
        print(f"{g.name}: {g.elapsed:.0f}s, {g.passed:d} passed, {g.failed:d} failed")
    text = "\n".join(line for g in guests for line in g.lines)
    figures = app_figures(text)
    if figures:
        print(f"apps: {figures}")
    if bench:
        uring = uring_expected(text, uring)
        problems += [f"ncbench {p}" for p in check_bench(text, kill=bench == "local", uring=uring)]
        print(f"ncbench: {bench_figures(text)}")
    if problems:
        print("VERDICT FAIL: " + "; ".join(problems))
        return 1
    print("VERDICT PASS")
    return 0


def free_udp_ports(n):
    """n distinct UDP ports on 127.0.0.1 that were free a moment ago (held
    together while choosing, so they differ)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def run_pair(args, tmp, test_bin, apps, bench):
    kver = os.path.basename(args.kernel).replace("vmlinuz-", "")
    e1000 = []
    if args.nic == "e1000" and args.e1000:
        if not os.path.isfile(args.e1000):
            sys.exit(f"run_vm.py: error: --e1000 {args.e1000}: no such file")
        e1000 = [args.e1000]
    elif args.nic == "e1000":
        e1000 = glob.glob(f"/lib/modules/{kver}/kernel/drivers/net/ethernet/intel/e1000/e1000.ko*")
        if e1000 and e1000[0].endswith((".xz", ".zst")):
            sys.exit("need an uncompressed e1000.ko from linux-image for --pair")
        if not e1000:
            print("note: no e1000.ko for this kernel, assuming e1000 is built in")
    shim = [f for f in build_preload(tmp) if f[0] == "nc_preload.so" or f[0].startswith("lib")] if apps else []
    ports = free_udp_ports(2)
    ips = ["198.18.0.1", "198.18.0.2"]
    # Both VMs share a cluster key (a fresh one per run), so every channel
    # between them authenticates (nc_auth.h). The module is loaded with
    # auth_required=1, as the role does: it opens and takes no channel until
    # the key is written right after the load.
    key = secrets.token_hex(32)
    after_load = f"echo {key} > /proc/sys/net/netchannel/auth_key && echo 'NCVM AUTHKEY set'"
    guests = []
    reborn = None
    for i in (0, 1, 2) if args.reboot_peer else (0, 1):
        k = min(i, 1)  # the rebooted VM (i == 2) is the second VM again: address, port, MAC
        hosts = f"local={ips[k]};peers={ips[1 - k]};bulk=2;lat=1;port=9000;cpus=0-1"
        setup = f"[ -e /e1000.ko ] && insmod /e1000.ko\nip addr add {ips[k]}/24 dev eth0\nip link set eth0 up"
        if args.reboot_peer:
            role = (f"/nc_vmtest survivor {ips[1]}", "/nc_vmtest victim", "/nc_vmtest reborn")[i]
        else:
            role = f"/nc_vmtest serve {args.mib:d}" if i == 0 else f"/nc_vmtest client {args.mib:d} {ips[0]}"
        initrd = os.path.join(tmp, f"initrd{i:d}.cpio")
        build_initramfs(
            initrd,
            module=args.module,
            test_bin=test_bin,
            loops=min(args.loops, 3),
            hosts=hosts,
            setup=setup,
            role_cmd=role,
            apps_args=("serve" if i == 0 else f"client {ips[0]}") if apps else "",
            app_requests=args.app_requests,
            bench_args=("serve" if i == 0 else f"client {ips[0]}") if bench else "",
            bench_dump=int(args.bench_dump),
            bench_uring=int(bench_uring(bench)),
            extra_files=([("e1000.ko", e1000[0])] if e1000 else []) + shim + apps + bench,
            timeout_scale=args.timeout_scale,
            after_load=after_load,
            # as the role loads it: no channel before the key is written
            module_args="auth_required=1",
        )
        # UDP, not QEMU's listen/connect TCP link: on a host TCP connection
        # between the two QEMUs, Nagle holds a second small frame until the
        # other QEMU's delayed ACK (40 ms), which is every request/response
        # exchange over NetChannel (an ACK on one channel, the answer on another).
        net = [
            "-netdev",
            f"socket,id=d0,udp=127.0.0.1:{ports[1 - k]:d},localaddr=127.0.0.1:{ports[k]:d}",
            "-device",
            f"{args.nic},netdev=d0,mac=52:54:00:c6:12:{k + 1:02x}",
        ]
        app_role = ("serve" if i == 0 else "client") if apps else None
        name = "vm2r" if i == 2 else f"vm{i + 1:d}"
        guest = Guest(name, qemu_cmd(args, initrd, net), args.verbose, app_role, args.app_requests)
        if i == 2:
            reborn = guest
        else:
            guests.append(guest)
    guests[0].start()
    time.sleep(1)
    guests[1].start()
    reboot_problems = []
    if reborn:
        reboot_problems = reboot_peer(guests, reborn, args.timeout)
        guests[1] = reborn
    for g in guests:
        g.wait(args.timeout)
    if reborn:
        reboot_problems += reboot_timing(guests[0], reborn)
    if args.log:
        for g in guests:
            g.save(f"{args.log}.{g.name}")
    return verdict(guests, "pair" if bench else None, bench_uring(bench), reboot_problems)


def reboot_peer(guests, reborn, timeout):
    """Kill the second VM once the first says its mesh is complete, then boot
    the second one again (same address, MAC and link)."""
    if guests[0].wait_line("survivor ready", timeout) is None:
        return ["the survivor VM never reported a complete channel mesh"]
    victim = guests[1]
    victim.kill()
    print(f"[run_vm] killed vm2 (QEMU pid {victim.proc.pid}) after {victim.elapsed:.0f}s; booting it again", flush=True)
    time.sleep(2)
    reborn.start()
    return []


def reboot_timing(survivor, reborn):
    """(a) of the reboot test: the survivor reached the rebooted VM's listener
    within REBOOT_CONNECT_MAX_S of that listener being up (host clock)."""
    up = reborn.stamp("reborn listening")
    conn = survivor.stamp("survivor connected")
    if up is None or conn is None:
        return [f"reboot: listener up at {up}, survivor connected at {conn}"]
    delay = max(0.0, conn - up)
    print(f"reboot: the survivor connected {delay:.1f}s after the rebooted VM's listener was up")
    if delay > REBOOT_CONNECT_MAX_S:
        return [f"reboot: survivor connected {delay:.1f}s after the listener was up (limit {REBOOT_CONNECT_MAX_S}s)"]
    return []


if __name__ == "__main__":
    install_stop_handlers()
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as exc:
        cmd = " ".join(str(c) for c in exc.cmd)
        sys.exit(f"run_vm.py: error: '{cmd}' failed with exit status {exc.returncode} (its output is above)")
    except OSError as exc:
        sys.exit(f"run_vm.py: error: {exc}")
    finally:
        stop_guests()
