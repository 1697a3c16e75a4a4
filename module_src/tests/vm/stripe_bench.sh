#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# Striping benchmark inside a test VM (copied in by stripe_bench.py): one
# connection from one thread, over TCP and over NetChannel loaded with each
# bulk channel count in turn.
#
#   stripe_bench.sh local  RUNS SECS "CHANNELS" SELF         one VM
#   stripe_bench.sh serve  RUNS SECS "CHANNELS" SELF PEER    two VMs: server
#   stripe_bench.sh client RUNS SECS "CHANNELS" SELF PEER    two VMs: client
#
# For each run and each channel count: a stream (one flow, one thread,
# 256 KiB writes) and a message rate (one flow, one thread, 4 KiB requests,
# 64-byte answers, 32 in flight), each over TCP and then over NetChannel,
# so every NetChannel figure has a TCP figure measured next to it.  The
# client (or the one VM) prints
#   NCVM SB run=R bulk=N workload=W protocol=P rc=RC key=value ...
#   NCVM SBCOUNT run=R bulk=N stripe_switches=S rx_ooo=O
#   NCVM SBDONE
role=$1
RUNS=${2:-3}
SECS=${3:-3}
CHANS=${4:-1 2 4}
SELF=${5:-198.18.0.1}
PEER=$6
TESTS="stream:tcp stream:netchannel msgrate:tcp msgrate:netchannel"

if [ "$role" = local ]; then
	server=$SELF
	peers=
else
	server=$PEER
	peers=$PEER
fi

pick() {
	_f=$1
	shift
	for _k in "$@"; do
		sed -n "s/^$_k=\(.*\)/$_k=\1/p" "$_f"
	done | tr '\n' ' '
}

wl_args() {
	case "$1" in
	stream)		echo "-T 1 -F 1 -B 256K" ;;
	msgrate)	echo "-T 1 -F 1 -Q 4K -R 64 -D 32" ;;
	esac
}

counter() {	# the total column of a /proc/net/netchannel counter
	awk -v k="$1" '$1 == k { v = $NF } END { print v + 0 }' /proc/net/netchannel
}

# until every outbound channel (to this host and to the peer) is up, 20 s at most
wait_up() {	# wait_up BULK
	_want=$(($1 + 1))
	[ -n "$peers" ] && _want=$((2 * _want))
	_i=0
	while [ $_i -lt 100 ] && [ "$(grep -c '^  tx .* up ' /proc/net/netchannel)" -lt $_want ]; do
		sleep 0.2
		_i=$((_i + 1))
	done
}

client_one() {	# client_one RUN BULK WORKLOAD PROTOCOL
	[ "$4" = netchannel ] && wait_up "$2"
	n=0
	while :; do
		# shellcheck disable=SC2046 # the workload's options are words
		timeout 60 /ncbench -c "$server" -p "$4" -W "$3" -l "$SECS" -w 0.5 --timeout 10 \
			$(wl_args "$3") >/sb-c.log 2>/sb-c.err
		rc=$?
		grep -q "cannot reach the ncbench server" /sb-c.err || break
		n=$((n + 1))
		[ $n -lt 120 ] || break
		sleep 0.25
	done
	echo "NCVM SB run=$1 bulk=$2 workload=$3 protocol=$4 rc=$rc $(pick /sb-c.log bytes_agree \
		throughput_gbps transactions_per_s latency_p50_us latency_p99_us cpu_host_busy_cores \
		remote_cpu_host_busy_cores)"
	sed "s/^/NCVM SBLOG run=$1 bulk=$2 $3-$4 /" /sb-c.err | head -3
}

rmmod netchannel 2>/dev/null
run=0
while [ $run -lt "$RUNS" ]; do
	run=$((run + 1))
	for ch in $CHANS; do
		if ! insmod /netchannel.ko hosts="local=$SELF;peers=$peers;bulk=$ch;lat=1;port=9000;cpus=0-1"; then
			echo "NCVM SB run=$run bulk=$ch insmod=failed"
			continue
		fi
		wait_up "$ch"
		for t in $TESTS; do
			case "$role" in
			local)
				/ncbench -s --once --idle-timeout 30 >/dev/null 2>&1 &
				spid=$!
				client_one $run "$ch" "${t%%:*}" "${t##*:}"
				wait $spid
				;;
			serve)
				timeout 120 /ncbench -s --once --idle-timeout 90 >/dev/null 2>&1
				;;
			client)
				client_one $run "$ch" "${t%%:*}" "${t##*:}"
				;;
			esac
		done
		echo "NCVM SBCOUNT run=$run bulk=$ch stripe_switches=$(counter stripe_switches) rx_ooo=$(counter rx_ooo)" \
			"ack_sent=$(counter ack_sent) ack_probes=$(counter ack_probes) rtx_capped=$(counter rtx_capped)"
		# a socket closed a moment ago may still hold the module (frames on their way)
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmmod netchannel 2>/dev/null && break
			sleep 0.3
		done
	done
done
# what the init script checks next (unload, load loops) wants it loaded
insmod /netchannel.ko hosts="local=$SELF;peers=$peers;bulk=2;lat=1;port=9000;cpus=0-1"
echo "NCVM SBDONE"
