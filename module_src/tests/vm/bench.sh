#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# ncbench inside the test VM (copied in by run_vm.py, run by /init after
# apps.sh): each workload over TCP and over NetChannel, then (one VM only)
# a server killed in the middle of a run.
#
#   bench.sh local           server and client in this VM
#   bench.sh serve           one server per test, for a client in the other VM
#   bench.sh client SERVER   the tests against SERVER (the other VM)
#
# NC_BENCH_SECS sets the measured seconds of each run (default 1.5, after a
# 0.5 s warm-up); NC_BENCH_URING=1 adds rr through io_uring over both
# protocols (ncbench built with liburing); NC_BENCH_DUMP=1 also prints every client's and server's
# full output, JSON record and CSV samples ("NCVM BENCHOUT <file> <line>",
# for docs/bench-tool.md).  Prints the lines run_vm.py checks:
#   NCVM BENCH <workload>[-uring]-<protocol> rc=N key=value ...    (client)
#   NCVM BENCHSRV rc=N protocol=P workload=W key=value ... (server)
#   NCVM BENCHKILL <protocol> rc=N secs=S err=...          (killed server)

role=$1
server=${2:-127.0.0.1}
SECS=${NC_BENCH_SECS:-1.5}
# how long a flow may take to drain after the run: 10 s, times the debug
# kernels' NC_VMTEST_TIMEOUT_SCALE (under load on a debug kernel even TCP
# streams took longer than 10 s to drain)
SCALE=${NC_VMTEST_TIMEOUT_SCALE:-1}
DRAIN=$((10 * SCALE))
WARM=0.5
DUMP=${NC_BENCH_DUMP:-0}
TESTS="stream:tcp stream:netchannel rr:tcp rr:netchannel msgrate:tcp msgrate:netchannel"
if [ "${NC_BENCH_URING:-0}" = 1 ]; then
	# a kernel built without io_uring (a small debug config) skips those runs
	if grep -qE ' (__x64_sys_)?io_uring_setup$' /proc/kallsyms; then
		TESTS="$TESTS rr-uring:tcp rr-uring:netchannel"
		echo "NCVM BENCHURING yes"
	else
		echo "NCVM BENCHURING no (this kernel has no io_uring)"
	fi
fi

wl_args() {
	case "$1" in
	stream)		echo "-T 2 -F 2 -B 256K --interval 0.5 --csv /bench-$2.csv" ;;
	rr)		echo "-F 1" ;;
	rr-uring)	echo "-F 1 --uring" ;;
	msgrate)	echo "-F 2 -D 16" ;;
	esac
}

# "k1=v1 k2=v2" for the keys given, from a key=value output file
pick() {
	_f=$1
	shift
	for _k in "$@"; do
		sed -n "s/^$_k=\(.*\)/$_k=\1/p" "$_f"
	done | tr '\n' ' '
}

uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

# after a failed NetChannel run: the channels twice, 2 s apart: bytes that
# still grow mean data was draining (slow), unchanged ones with frames
# queued mean a stall
chan_progress() {	# chan_progress NAME
	for _i in 1 2; do
		grep -E '^  tx |^rx ' /proc/net/netchannel | sed "s/^ */NCVM BENCHCHAN $1 $_i /"
		[ $_i = 2 ] || sleep 2
	done
}

# while a server runs: every 5 s the uptime and each inbound channel's bytes
# ("t=12.3 id5=29635682 ..."), so a failed run shows whether data was still
# arriving at the deadline (a slow drain) or had stopped long before (a stall)
rx_samples() {		# rx_samples FILE
	while :; do
		awk -v t="$(uptime_s)" 'BEGIN { printf "t=%s", t }
			$1 == "rx" { printf " id%s=%s", $3, $12 } END { print "" }' /proc/net/netchannel
		sleep 5
	done >"$1" 2>/dev/null
}

serve_one() {		# serve_one N: one test, whatever the client asks for
	rx_samples "/bench-s-$1.rx" &
	sampler=$!
	timeout $((110 + DRAIN)) /ncbench -s --once --idle-timeout 40 >"/bench-s-$1.log" 2>&1
	rc=$?
	kill $sampler 2>/dev/null
	wait $sampler 2>/dev/null
	echo "NCVM BENCHSRV rc=$rc $(pick "/bench-s-$1.log" protocol workload uring tx_bytes rx_bytes)"
	grep 'error' "/bench-s-$1.log" | sed "s/^/NCVM BENCHLOG server-$1 /" | head -3
	if grep -q 'error' "/bench-s-$1.log" && grep -q '^protocol=netchannel' "/bench-s-$1.log"; then
		echo "NCVM BENCHRX server-$1 ended t=$(uptime_s)"
		tail -n 30 "/bench-s-$1.rx" | sed "s/^/NCVM BENCHRX server-$1 /"
		chan_progress "server-$1"
	fi
	[ "$DUMP" = 1 ] && dump "/bench-s-$1.log"
}

client_one() {		# client_one workload protocol host
	name=$1-$2
	n=0
	while :; do
		# shellcheck disable=SC2046 # the workload's options are words
		timeout $((50 + DRAIN)) /ncbench -c "$3" -p "$2" -W "${1%-uring}" -l "$SECS" -w $WARM --timeout $DRAIN \
			$(wl_args "$1" "$name") --json "/bench-$name.json" >"/bench-c-$name.log" 2>"/bench-c-$name.err"
		rc=$?
		# the server of the next test may still be starting
		grep -q "cannot reach the ncbench server" "/bench-c-$name.err" || break
		n=$((n + 1))
		[ $n -lt 80 ] || break
		sleep 0.5
	done
	sed "s/^/NCVM BENCHLOG $name /" "/bench-c-$name.err" | head -5
	[ "$rc" != 0 ] && [ "$2" = netchannel ] && chan_progress "$name"
	rows=none
	[ -f "/bench-$name.csv" ] && rows=$(($(grep -c . "/bench-$name.csv") - 1))
	echo "NCVM BENCH $name rc=$rc $(pick "/bench-c-$name.log" bytes_agree tx_bytes rx_bytes \
		throughput_gbps remote_throughput_gbps transactions_per_s latency_p50_us latency_p99_us latency_count \
		cpu_host_busy_cores remote_cpu_host_busy_cores) interval_rows=$rows"
	[ "$DUMP" = 1 ] && dump "/bench-c-$name.log" "/bench-$name.json" "/bench-$name.csv"
}

dump() {		# dump FILE...: each line prefixed with the file's name
	for _f in "$@"; do
		[ -f "$_f" ] && sed "s|^|NCVM BENCHOUT ${_f#/} |" "$_f"
	done
}

# a server killed 1.5 s into an 8.5 s run: the client must fail long before the
# run's end (6 s at most, slow debug kernels included), with one line
kill_test() {		# kill_test protocol
	/ncbench -s --once --idle-timeout 30 >/dev/null 2>&1 &
	spid=$!
	sleep 0.3
	(sleep 1.5; kill -9 $spid) &
	kpid=$!
	t0=$(uptime_s)
	timeout 60 /ncbench -c 127.0.0.1 -p "$1" -l 8 -w 0.5 --timeout 3 >/dev/null 2>"/bench-kill-$1.err"
	rc=$?
	t1=$(uptime_s)
	wait $kpid
	wait $spid 2>/dev/null
	err=$(head -1 "/bench-kill-$1.err" | tr ' ' '_')
	echo "NCVM BENCHKILL $1 rc=$rc secs=$(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }')" \
		"lines=$(grep -c . "/bench-kill-$1.err") err=$err"
}

start=$(uptime_s)
case "$role" in
local)
	i=0
	for t in $TESTS; do
		i=$((i + 1))
		serve_one $i &
		spid=$!
		client_one "${t%%:*}" "${t##*:}" 127.0.0.1
		wait $spid
	done
	kill_test tcp
	kill_test netchannel
	;;
serve)
	i=0
	for t in $TESTS; do
		i=$((i + 1))
		serve_one $i
	done
	;;
client)
	for t in $TESTS; do
		client_one "${t%%:*}" "${t##*:}" "$server"
	done
	;;
*)
	echo "usage: bench.sh local | serve | client SERVER" >&2
	exit 2
	;;
esac
echo "NCVM BENCHTIME $role $(echo "$start $(uptime_s)" | awk '{ printf "%.1f", $2 - $1 }') s"
