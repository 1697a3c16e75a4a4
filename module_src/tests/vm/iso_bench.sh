#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# Latency isolation benchmark inside a test VM (copied in by iso_bench.py):
# a 4 KiB request/response flow alone and next to 4 bulk flows of the same
# protocol, over TCP (SO_PRIORITY 0 and 6) and over NetChannel (priority 6:
# the latency class; priority 0: the bulk class, for comparison, with its
# connections taking turns on a channel and, as "netchannel-fifo", in the
# order their frames came: net.netchannel.drr 0 on this guest).
#
#   iso_bench.sh local  RUNS SECS SELF          one VM
#   iso_bench.sh serve  RUNS SECS SELF PEER     two VMs: server
#   iso_bench.sh client RUNS SECS SELF PEER     two VMs: client
#
# The client (or the one VM) prints, per run, variant and load
#   NCVM ISO run=R variant=V load=alone|bulk rc=RC bulk_rc=RC key=value ...
#   NCVM ISODONE
# The request/response flow runs on control port 12865 (data 12866), the
# bulk flows on 12867 (data 12868); the bulk flows start a second before
# the measured flow and end a second after it.
role=$1
RUNS=${2:-3}
SECS=${3:-3}
SELF=${4:-198.18.0.1}
PEER=$5
VARIANTS="tcp:0 tcp:6 netchannel:6 netchannel:0 netchannel-fifo:0"
LOADS="alone bulk"

if [ "$role" = local ]; then
	server=$SELF
else
	server=$PEER
fi

pick() {
	_f=$1
	shift
	for _k in "$@"; do
		sed -n "s/^$_k=\(.*\)/$_k=\1/p" "$_f"
	done | tr '\n' ' '
}

# until every outbound channel is up (to this host, and to the peer), 20 s at most
wait_up() {
	_want=3
	[ "$role" != local ] && _want=6
	_i=0
	while [ $_i -lt 100 ] && [ "$(grep -c '^  tx .* up ' /proc/net/netchannel)" -lt $_want ]; do
		sleep 0.2
		_i=$((_i + 1))
	done
}

# run_client OUT ERR ARGS...: ncbench -c, retried while the server is not up yet
run_client() {
	_out=$1
	_err=$2
	shift 2
	_n=0
	while :; do
		timeout 60 /ncbench -c "$server" "$@" >"$_out" 2>"$_err"
		_rc=$?
		grep -q "cannot reach the ncbench server" "$_err" || break
		_n=$((_n + 1))
		[ $_n -lt 120 ] || break
		sleep 0.25
	done
	return $_rc
}

client_one() {	# client_one RUN VARIANT PRIORITY LOAD
	proto=${2%-fifo}
	if [ "$proto" = netchannel ]; then
		wait_up
		# turns on a channel, except for the netchannel-fifo variant
		if [ "$2" = "$proto" ]; then echo 1; else echo 0; fi >/proc/sys/net/netchannel/drr
	fi
	brc=-
	if [ "$4" = bulk ]; then
		# shellcheck disable=SC2086 # SECS is a number
		run_client /ib-b.log /ib-b.err -C 12867 -P 12868 -p "$proto" -W stream -T 1 -F 4 -B 256K \
			-l "$(awk -v s="$SECS" 'BEGIN { print s + 2 }')" -w 0.5 --timeout 10 &
		bpid=$!
		sleep 1
	fi
	run_client /ib-c.log /ib-c.err -p "$proto" -W rr -Q 4K -R 4K --priority "$3" -l "$SECS" -w 0.5 \
		--timeout 10
	rc=$?
	if [ "$4" = bulk ]; then
		wait $bpid
		brc=$?
	fi
	echo "NCVM ISO run=$1 variant=$2-p$3 load=$4 rc=$rc bulk_rc=$brc $(pick /ib-c.log bytes_agree \
		transactions_per_s latency_mean_us latency_p50_us latency_p99_us latency_p999_us \
		cpu_host_busy_cores) bulk_gbps=$([ "$4" = bulk ] && sed -n 's/^throughput_gbps=//p' /ib-b.log)"
	sed "s/^/NCVM ISOLOG run=$1 $2-p$3-$4 /" /ib-c.err | head -3
	[ "$4" = bulk ] && sed "s/^/NCVM ISOLOG run=$1 $2-p$3-$4 bulk /" /ib-b.err | head -3
}

serve_one() {	# serve_one LOAD: the servers one test needs, until they are done
	if [ "$1" = bulk ]; then
		timeout 120 /ncbench -s --once --idle-timeout 90 -C 12867 >/dev/null 2>&1 &
		bs=$!
	fi
	timeout 120 /ncbench -s --once --idle-timeout 90 >/dev/null 2>&1
	[ "$1" = bulk ] && wait $bs
}

rmmod netchannel 2>/dev/null
if ! insmod /netchannel.ko hosts="local=$SELF;peers=$PEER;bulk=2;lat=1;port=9000;cpus=0-1"; then
	echo "NCVM ISO insmod=failed"
	echo "NCVM ISODONE"
	exit 1
fi
wait_up
run=0
while [ $run -lt "$RUNS" ]; do
	run=$((run + 1))
	for v in $VARIANTS; do
		for load in $LOADS; do
			case "$role" in
			local)
				serve_one "$load" &
				spid=$!
				client_one $run "${v%%:*}" "${v##*:}" "$load"
				wait $spid
				;;
			serve)
				serve_one "$load"
				;;
			client)
				client_one $run "${v%%:*}" "${v##*:}" "$load"
				;;
			esac
		done
	done
done
echo "NCVM ISODONE"
