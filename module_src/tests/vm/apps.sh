#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified iperf3 and redis-server + redis-benchmark over NetChannel through
# the LD_PRELOAD shim, inside the test VM (copied in by run_vm.py, run by /init).
#
#   apps.sh local           server and client in this VM, over the loopback peer
#   apps.sh serve           servers for a client in the other VM
#   apps.sh client SERVER   clients against SERVER (the other VM)
#
# NC_APPS_REQUESTS sets the redis-benchmark request count (default 10000).
#
# Prints "NCVM APP <name> key=value ..." verdict lines that run_vm.py checks:
# exit codes, the TCP sockets seen on the application port while it ran (must
# be 0: the shim moved them to NetChannel), the NetChannel byte counter delta
# and the application's own figures. iperf3 also runs once over plain TCP
# (no shim) as the baseline.

role=$1
server=${2:-127.0.0.1}
# requests per redis-benchmark test (SET and GET each); fewer on slow kernels
REQUESTS=${NC_APPS_REQUESTS:-10000}
IPERF_NC=5201
IPERF_TCP=5202
REDIS_NC=6379
REDIS_TCP=6380
SECS=4
# servers give up after this long, so a failed client cannot hang the VM
SERVER_SECS=600

counter() {
	awk -v k="$1" '$1 == k { print $NF }' /proc/net/netchannel
}

# TCP sockets (listening or connected, IPv4 or IPv6) using this port
tcp_on_port() {
	cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -ci ":$(printf %04X "$1") "
}

run() {		# run nc|tcp cmd...: with the shim (nc) or without it (tcp)
	case "$1" in
	nc)	shift; env LD_PRELOAD=/nc_preload.so NC_PRELOAD_STRICT=1 "$@" ;;
	tcp)	shift; "$@" ;;
	*)	echo "run: nc or tcp, not '$1'" >&2; return 2 ;;
	esac
}

# "... 52.5 MBytes 110 Mbits/sec ... receiver" -> "52.5 110": the amount in
# MiB whatever unit iperf3 chose for it (-f m fixes only the rate's unit)
iperf_receiver() {
	awk '/receiver/ {
		for (i = 2; i <= NF; i++) {
			if ($i == "Bytes") b = $(i - 1) / 1048576
			if ($i == "KBytes") b = $(i - 1) / 1024
			if ($i == "MBytes") b = $(i - 1)
			if ($i == "GBytes") b = $(i - 1) * 1024
			if ($i == "Mbits/sec") r = $(i - 1)
		}
	}
	END { print (b ? b : 0), (r ? r : 0) }' "$1"
}

iperf_server() {	# iperf_server nc|tcp port
	run "$1" timeout $SERVER_SECS /usr/bin/iperf3 -4 -s -1 -p "$2" >"/iperf3-s-$1.log" 2>&1
}

iperf_client() {	# iperf_client nc|tcp port host
	tx0=$(counter tx_bytes)
	# the server may still be starting (in the other VM): retry the connect
	n=0
	while :; do
		run "$1" timeout $((SECS + 60)) /usr/bin/iperf3 -4 -c "$3" -p "$2" -t $SECS -f m \
			>"/iperf3-c-$1.log" 2>&1 &
		cpid=$!
		sleep 2
		grep -q "unable to connect" "/iperf3-c-$1.log" || break
		wait $cpid
		n=$((n + 1))
		[ $n -lt 10 ] || break
	done
	tcp=$(tcp_on_port "$2")
	wait $cpid
	crc=$?
	tx1=$(counter tx_bytes)
	set -- "$1" $(iperf_receiver "/iperf3-c-$1.log")
	grep -E 'sender|receiver|error' "/iperf3-c-$1.log" | sed "s/^/NCVM APPLOG iperf3-$1 /"
	echo "NCVM APP iperf3-$1 client_rc=$crc tcp_sockets=$tcp nc_tx_bytes=$((tx1 - tx0))" \
		"mbytes=$2 mbits=$3"
}

redis_server() {	# redis_server nc|tcp port bind-address
	run "$1" timeout $SERVER_SECS /usr/bin/redis-server --bind "$3" --port "$2" --save "" --appendonly no \
		--protected-mode no --daemonize no --dir /tmp --loglevel warning >"/redis-s-$1.log" 2>&1
}

cli() {			# cli nc|tcp port host args...
	_cli_m=$1 _cli_p=$2 _cli_h=$3	# sh has no locals: names of its own
	shift 3
	run "$_cli_m" timeout 30 /usr/bin/redis-cli -h "$_cli_h" -p "$_cli_p" "$@" | tr -d '\r'
}

redis_client() {	# redis_client nc|tcp port host
	i=0
	until [ "$(cli "$1" "$2" "$3" ping 2>/dev/null)" = PONG ]; do
		i=$((i + 1))
		if [ $i -ge 100 ]; then
			echo "NCVM APP redis-$1 bench_rc=255 tcp_sockets=-1 commands=0 roundtrip=no-server bench_key=0 rps=none"
			brc=255
			return
		fi
		sleep 0.3
	done
	tx0=$(counter tx_bytes)
	run "$1" timeout $SERVER_SECS /usr/bin/redis-benchmark -h "$3" -p "$2" -n "$REQUESTS" -c 20 -t set,get -q >"/redis-b-$1.log" 2>&1 &
	bpid=$!
	sleep 2
	tcp=$(tcp_on_port "$2")
	wait $bpid
	brc=$?
	tx1=$(counter tx_bytes)
	cmds=$(cli "$1" "$2" "$3" info stats | awk -F: '$1 == "total_commands_processed" { print $2 }')
	# a value of our own, written and read back by redis-cli, plus the key
	# the benchmark's SETs wrote
	want=$(cat /proc/sys/kernel/random/uuid)
	cli "$1" "$2" "$3" set nc_check "$want" >/dev/null
	got=$(cli "$1" "$2" "$3" get nc_check)
	[ "$got" = "$want" ] && val=ok || val="mismatch:$got"
	keys=$(cli "$1" "$2" "$3" exists key:__rand_int__)
	rps=$(tr '\r' '\n' <"/redis-b-$1.log" |
		awk '/requests per second/ { sub(":", "", $1); printf "%s%s=%s", s, $1, $2; s = "," }')
	p50=$(tr '\r' '\n' <"/redis-b-$1.log" |
		awk '/requests per second/ { sub("p50=", "", $6); printf "%s%s", s, $6; s = "," }')
	tr '\r' '\n' <"/redis-b-$1.log" | grep -E 'requests per second|rror' | sed "s/^/NCVM APPLOG redis-$1 /"
	cli "$1" "$2" "$3" shutdown nosave >/dev/null 2>&1
	echo "NCVM APP redis-$1 bench_rc=$brc tcp_sockets=$tcp nc_tx_bytes=$((tx1 - tx0))" \
		"commands=${cmds:-0} roundtrip=$val bench_key=${keys:-0} rps=${rps:-none} p50_ms=${p50:-none}"
}

case "$role" in
local)
	for m in nc tcp; do
		port=$IPERF_NC
		[ $m = tcp ] && port=$IPERF_TCP
		iperf_server $m $port &
		spid=$!
		sleep 1
		iperf_client $m $port 127.0.0.1
		[ "$crc" = 0 ] || kill $spid 2>/dev/null	# it waits for a client
		wait $spid
		echo "NCVM APP iperf3-$m-server server_rc=$?"
	done
	for m in nc tcp; do
		port=$REDIS_NC
		[ $m = tcp ] && port=$REDIS_TCP
		redis_server $m $port 127.0.0.1 &
		rpid=$!
		redis_client $m $port 127.0.0.1
		[ "$brc" = 0 ] || kill $rpid 2>/dev/null	# no shutdown reached it
		wait $rpid
		echo "NCVM APP redis-$m-server server_rc=$?"
	done
	;;
serve)
	iperf_server nc $IPERF_NC &
	p1=$!
	iperf_server tcp $IPERF_TCP &
	p2=$!
	redis_server nc $REDIS_NC 0.0.0.0 &
	p3=$!
	redis_server tcp $REDIS_TCP 0.0.0.0 &
	p4=$!
	wait $p1
	echo "NCVM APP iperf3-nc-server server_rc=$?"
	wait $p2
	echo "NCVM APP iperf3-tcp-server server_rc=$?"
	wait $p3
	echo "NCVM APP redis-nc-server server_rc=$?"
	wait $p4
	echo "NCVM APP redis-tcp-server server_rc=$?"
	;;
client)
	# the servers start at about the same time in the other VM
	sleep 3
	iperf_client nc $IPERF_NC "$server"
	iperf_client tcp $IPERF_TCP "$server"
	redis_client nc $REDIS_NC "$server"
	redis_client tcp $REDIS_TCP "$server"
	;;
*)
	echo "usage: apps.sh local | serve | client SERVER" >&2
	exit 2
	;;
esac
