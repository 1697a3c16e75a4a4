#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified iperf3, redis-server + redis-benchmark, nginx + curl,
# memcached + libmemcached's tools, sshd + ssh, haproxy and socat over NetChannel
# through the LD_PRELOAD shim, inside the test VM (copied in by run_vm.py,
# run by /init).
#
#   apps.sh local           server and client in this VM, over the loopback peer
#   apps.sh serve           servers for a client in the other VM
#   apps.sh client SERVER   clients against SERVER (the other VM)
#
# nginx (Debian's, as shipped: sendfile, TCP_CORK through tcp_nopush, epoll
# edge-triggered, accept4 in two forked workers, WebDAV PUT) takes an upload
# from curl (1 to 8 MiB), then serves it back and 200 small keep-alive
# requests; curl checks the bytes, then asks once through an IPv4-mapped
# IPv6 address (an AF_INET6 socket, which the shim moves too). memcached
# (libevent, a listener thread handing connections to worker threads) takes
# a 512 KiB item from memccp and gives it back to memccat, then memcslap's
# SETs and GETs from 4 threads. sshd (privilege separation: a re-executed
# sshd and a chrooted child carry the connection) runs a remote cat that
# sends the bytes ssh gives it back, reports the addresses it sees and an
# exit status. haproxy proxies curl to nginx; socat's client half-closes.
# nginx's, memcached's, sshd's, haproxy's and socat's binaries come from
# Debian's packages unpacked by run_vm.py (installing them here would start
# daemons).
#
# NC_APPS_REQUESTS sets the redis-benchmark request count (default 10000);
# each of memcslap's 4 threads makes a tenth of it.
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
MEMC_PER_THREAD=$((REQUESTS / 10))
# what curl uploads to nginx: 1 MiB per 1000 requests, 1 to 8 MiB (slow debug kernels get 1)
WEB_MIB=$((REQUESTS / 1000))
[ $WEB_MIB -ge 1 ] || WEB_MIB=1
[ $WEB_MIB -le 8 ] || WEB_MIB=8
IPERF_NC=5201
IPERF_TCP=5202
REDIS_NC=6379
REDIS_TCP=6380
NGINX_NC=8080
NGINX_TCP=8081
MEMC_NC=11211
MEMC_TCP=11212
SSH_NC=2222
SSH_TCP=2223
SOCAT_NC=7020
SOCAT_TCP=7021
HAP_NC=8090
HAP_TCP=8091
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

# the accounts the servers look up: root (nginx's workers, the ssh logins)
# and sshd's privilege-separation user
vm_users() {
	mkdir -p /etc
	grep -q '^root:' /etc/passwd 2>/dev/null || echo 'root:x:0:0:root:/:/bin/sh' >>/etc/passwd
	grep -q '^sshd:' /etc/passwd 2>/dev/null || echo 'sshd:x:100:65534::/run/sshd:/bin/false' >>/etc/passwd
	grep -q '^root:' /etc/group 2>/dev/null || echo 'root:x:0:' >>/etc/group
	grep -q '^nogroup:' /etc/group 2>/dev/null || echo 'nogroup:x:65534:' >>/etc/group
}

# /nginx-nc or /nginx-tcp: the configuration of one nginx instance, serving
# /www and taking uploads under /up/ (stored in the instance's directory)
nginx_conf() {		# nginx_conf nc|tcp port bind-address
	d=/nginx-$1
	mkdir -p "$d/tmp" "$d/up" /www
	vm_users
	[ -e /www/index.html ] || echo "netchannel nginx test page" >/www/index.html
	cat >"$d/nginx.conf" <<-EOF
	user root root;
	worker_processes 2;
	daemon off;
	pid $d/nginx.pid;
	error_log $d/error.log warn;
	events { worker_connections 64; }
	http {
		access_log off;
		sendfile on;
		tcp_nopush on;
		tcp_nodelay on;
		keepalive_requests 1000;
		client_body_temp_path $d/tmp;
		proxy_temp_path $d/tmp;
		fastcgi_temp_path $d/tmp;
		uwsgi_temp_path $d/tmp;
		scgi_temp_path $d/tmp;
		server {
			listen $3:$2;
			root /www;
			location /up/ {
				root $d;
				dav_methods PUT;
				client_max_body_size 64m;
			}
		}
	}
	EOF
}

nginx_server() {	# nginx_server nc|tcp port bind-address: start, echo when listening
	nginx_conf "$1" "$2" "$3"
	d=/nginx-$1
	run "$1" timeout $SERVER_SECS /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" \
		>"$d/out.log" 2>&1 &
	echo $! >"$d.job"
	i=0
	until [ -s "$d/nginx.pid" ] || [ $i -ge 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 0.5
	sed "s/^/NCVM APPLOG nginx-$1 /" "$d/out.log" "$d/error.log" 2>/dev/null
	echo "NCVM APP nginx-$1-up pid=$(cat "$d/nginx.pid" 2>/dev/null || echo none)" \
		"tcp_sockets=$(tcp_on_port "$2")"
}

# ok when COPY holds FILE's bytes, mismatch otherwise (or when it is missing)
same_bytes() {		# same_bytes FILE COPY
	cmp -s "$1" "$2" && echo ok || echo mismatch
}

# run CMD until it succeeds, at most 50 more times 0.3 s apart: its server
# may still be starting (in the other VM)
until_up() {		# until_up CMD...
	_u=0
	until "$@" </dev/null >/dev/null 2>&1 || [ $_u -ge 50 ]; do
		sleep 0.3
		_u=$((_u + 1))
	done
}

# COUNT requests for URL/ from one curl, which keeps its connection alive:
# "answers-with-200/connections-made" (errors to LOG)
keepalive_gets() {	# keepalive_gets nc|tcp URL COUNT LOG
	_k=0
	_urls=""
	while [ $_k -lt "$3" ]; do
		_urls="$_urls $2/"
		_k=$((_k + 1))
	done
	# shellcheck disable=SC2086 # one argument per URL
	run "$1" timeout 120 /usr/bin/curl -sS -o /dev/null -w '%{http_code} %{num_connects}\n' \
		$_urls 2>>"$4" | awk '$1 == 200 { ok++ } { c += $2 } END { printf "%d/%d", ok, c }'
}

# stop the instance this script started (its pid file), not every one of
# its kind, and wait for it (the background job JOBFILE names): server_rc is
# its exit status (137 when it ignored SIGNAL for 20 s and was killed), 255
# when it had no pid
stop_server() {		# stop_server NAME PIDFILE SIGNAL JOBFILE [LOG_ERRORS]
	job=$(cat "$4" 2>/dev/null)
	pid=$(cat "$2" 2>/dev/null)
	if [ -z "$pid" ] || [ -z "$job" ] || ! kill -"$3" "$pid" 2>/dev/null; then
		[ -n "$job" ] && kill -KILL "$job" 2>/dev/null
		echo "NCVM APP $1-server server_rc=255 log_errors=${5:-0}"
		return
	fi
	(sleep 20; kill -KILL "$pid" 2>/dev/null) &
	dog=$!
	wait "$job"
	rc=$?
	kill "$dog" 2>/dev/null
	echo "NCVM APP $1-server server_rc=$rc log_errors=${5:-0}"
}

# a worker that crashed (nginx starts another and goes on) shows only in
# its error log: alerts, emergencies and critical errors count as failures
nginx_stop() {		# nginx_stop nc|tcp
	log=/nginx-$1/error.log
	sed "s/^/NCVM APPLOG nginx-$1 /" "$log" 2>/dev/null
	stop_server "nginx-$1" "/nginx-$1/nginx.pid" QUIT "/nginx-$1.job" \
		"$(grep -cE '\[(alert|emerg|crit)\]|exited on signal' "$log" 2>/dev/null)"
}

# curl PUTs WEB_MIB MiB of random bytes, GETs them back (nginx sends them with
# sendfile) and compares, then fetches the small page 200 times over one
# keep-alive connection
curl_client() {		# curl_client nc|tcp port host
	url=http://$3:$2
	[ -e /web.bin ] || head -c $((WEB_MIB * 1048576)) /dev/urandom >/web.bin
	until_up run "$1" timeout 10 /usr/bin/curl -sS -o /dev/null "$url/"
	rm -f "/web-got-$1.bin"
	tx0=$(counter tx_bytes)
	put=$(run "$1" timeout 120 /usr/bin/curl -sS -T /web.bin -w '%{http_code}' -o /dev/null \
		"$url/up/web.bin" 2>"/curl-$1.log")
	get=$(run "$1" timeout 120 /usr/bin/curl -sS -o "/web-got-$1.bin" \
		-w '%{http_code} %{size_download} %{speed_download}' "$url/up/web.bin" 2>>"/curl-$1.log")
	tx1=$(counter tx_bytes)
	same=$(same_bytes /web.bin "/web-got-$1.bin")
	small=$(keepalive_gets "$1" "$url" 200 "/curl-$1.log")
	# curl's socket is AF_INET6 for an IPv4-mapped address: the shim moves it too
	v6tx0=$(counter tx_bytes)
	v6=$(run "$1" timeout 60 /usr/bin/curl -sS -g -o /dev/null -w '%{http_code}' \
		"http://[::ffff:$3]:$2/" 2>>"/curl-$1.log")
	v6tx=$(($(counter tx_bytes) - v6tx0))
	sed "s/^/NCVM APPLOG curl-$1 /" "/curl-$1.log"
	set -- "$1" $get
	echo "NCVM APP nginx-$1 put_code=$put get_code=${2:-none} get_bytes=${3:-0}" \
		"get_bps=${4:-0} bytes=$same small_ok_conns=$small nc_tx_bytes=$((tx1 - tx0))" \
		"v6_code=${v6:-none} v6_nc_tx_bytes=$v6tx"
}

memc_server() {		# memc_server nc|tcp port bind-address: start, echo when listening
	rm -f "/memc-$1.pid"
	run "$1" timeout $SERVER_SECS /usr/bin/memcached -u root -l "$3" -p "$2" -U 0 -t 2 -m 64 \
		-P "/memc-$1.pid" >"/memc-s-$1.log" 2>&1 &
	echo $! >"/memc-$1.job"
	i=0
	until [ "$(tcp_on_port "$2")" != 0 ] || [ -s "/memc-$1.pid" ] || [ $i -ge 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 0.5
	sed "s/^/NCVM APPLOG memcached-$1 /" "/memc-s-$1.log"
	echo "NCVM APP memcached-$1-up pid=$(cat "/memc-$1.pid" 2>/dev/null || echo none)" \
		"tcp_sockets=$(tcp_on_port "$2")"
}

memc_stop() {		# memc_stop nc|tcp
	stop_server "memcached-$1" "/memc-$1.pid" TERM "/memc-$1.job"
}

mc() {			# mc nc|tcp port host tool args...: one of libmemcached's tools
	_mc_m=$1 _mc_s=$3:$2 _mc_t=$4	# sh has no locals: names of its own
	shift 4
	run "$_mc_m" timeout 120 "/usr/bin/$_mc_t" --servers="$_mc_s" "$@"
}

stat_of() {		# stat_of NAME < memcstat output
	awk -v k="$1:" '$1 == k { print $2; exit }'
}

memc_client() {		# memc_client nc|tcp port host
	until_up mc "$1" "$2" "$3" memcstat
	[ -e /memc.bin ] || head -c 524288 /dev/urandom >/memc.bin
	tx0=$(counter tx_bytes)
	mc "$1" "$2" "$3" memccp /memc.bin >"/memc-c-$1.log" 2>&1
	cprc=$?
	rm -f "/memc-got-$1.bin"
	mc "$1" "$2" "$3" memccat --file="/memc-got-$1.bin" memc.bin >>"/memc-c-$1.log" 2>&1
	same=$(same_bytes /memc.bin "/memc-got-$1.bin")
	t0=$(date +%s)
	mc "$1" "$2" "$3" memcslap --concurrency=4 --execute-number=$MEMC_PER_THREAD --test=set >"/memc-b-$1.log" 2>&1
	setrc=$?
	mc "$1" "$2" "$3" memcslap --concurrency=4 --execute-number=$MEMC_PER_THREAD --test=get >>"/memc-b-$1.log" 2>&1
	getrc=$?
	t1=$(date +%s)
	tx1=$(counter tx_bytes)
	mc "$1" "$2" "$3" memcstat >"/memc-stat-$1.log" 2>&1
	sed "s/^/NCVM APPLOG memcached-$1 /" "/memc-c-$1.log" "/memc-b-$1.log"
	# memcslap's "Time to set 8000 keys by 4 threads: 3.024 seconds." as keys/s
	rates=$(awk '/^Time to (set|get) +[0-9]+ keys by/ && $(NF - 1) > 0 {
		printf "%s%s=%.0f", s, toupper($3), $4 / $(NF - 1); s = "," }' "/memc-b-$1.log")
	echo "NCVM APP memcached-$1 cp_rc=$cprc set_rc=$setrc get_rc=$getrc bytes=$same rps=${rates:-none}" \
		"cmd_set=$(stat_of cmd_set <"/memc-stat-$1.log") cmd_get=$(stat_of cmd_get <"/memc-stat-$1.log")" \
		"get_hits=$(stat_of get_hits <"/memc-stat-$1.log") secs=$((t1 - t0)) nc_tx_bytes=$((tx1 - tx0))"
}

# sshd (Debian's, privilege separation: the connection goes through a
# re-executed sshd and a chrooted child) with the host's ssh client. The keys
# come from run_vm.py (the same in both VMs); the initramfs gives every file
# mode 755, which both refuse for a private key.
ssh_files() {
	vm_users
	mkdir -p /run/sshd
	chmod 755 /run/sshd
	chmod 600 /ssh/host_key /ssh/id
}

ssh_server() {		# ssh_server nc|tcp port bind-address: start, echo when listening
	ssh_files
	rm -f "/ssh/sshd-$1.pid"
	cat >"/ssh/sshd-$1.conf" <<-EOF
	Port $2
	ListenAddress $3
	HostKey /ssh/host_key
	PidFile /ssh/sshd-$1.pid
	AuthorizedKeysFile /ssh/authorized_keys
	PermitRootLogin prohibit-password
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	UsePAM no
	StrictModes no
	PrintMotd no
	PrintLastLog no
	EOF
	run "$1" timeout $SERVER_SECS /usr/sbin/sshd -D -e -f "/ssh/sshd-$1.conf" >"/sshd-$1.log" 2>&1 &
	echo $! >"/sshd-$1.job"
	i=0
	until [ -s "/ssh/sshd-$1.pid" ] || [ $i -ge 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	sleep 0.5
	sed "s/^/NCVM APPLOG sshd-$1 /" "/sshd-$1.log"
	echo "NCVM APP ssh-$1-up pid=$(cat "/ssh/sshd-$1.pid" 2>/dev/null || echo none)" \
		"tcp_sockets=$(tcp_on_port "$2")"
}

# sshd exits 0 on SIGTERM ("Received signal 15; terminating."); errors in
# its log count as failures
ssh_stop() {		# ssh_stop nc|tcp
	sed "s/^/NCVM APPLOG sshd-$1 /" "/sshd-$1.log" 2>/dev/null
	stop_server "ssh-$1" "/ssh/sshd-$1.pid" TERM "/sshd-$1.job" \
		"$(grep -ciE 'fatal|error' "/sshd-$1.log" 2>/dev/null)"
}

sh_ssh() {		# sh_ssh nc|tcp port host command...: ssh as root, key only
	_ssh_m=$1 _ssh_p=$2 _ssh_h=$3	# sh has no locals: names of its own
	shift 3
	ssh_files
	run "$_ssh_m" timeout 120 /usr/bin/ssh -F /dev/null -i /ssh/id -p "$_ssh_p" \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o LogLevel=ERROR -o ConnectTimeout=30 "root@$_ssh_h" "$@"
}

# WEB_MIB MiB of random bytes through a remote cat and back (both directions
# at once), the connection's addresses as sshd sees them (getsockname and
# getpeername on the accepted socket) and a remote exit status
ssh_client() {		# ssh_client nc|tcp port host
	until_up sh_ssh "$1" "$2" "$3" true
	[ -e /ssh.bin ] || head -c $((WEB_MIB * 1048576)) /dev/urandom >/ssh.bin
	rm -f "/ssh-got-$1.bin" "/ssh-conn-$1.txt"
	# a session that stays open while the sockets on the port are counted
	sh_ssh "$1" "$2" "$3" 'echo $SSH_CONNECTION; sleep 3' </dev/null >"/ssh-conn-$1.txt" 2>"/ssh-c-$1.log" &
	spid=$!
	i=0
	until [ -s "/ssh-conn-$1.txt" ] || [ $i -ge 150 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	tcp=$(tcp_on_port "$2")
	wait $spid
	connrc=$?
	tx0=$(counter tx_bytes)
	sh_ssh "$1" "$2" "$3" cat </ssh.bin >"/ssh-got-$1.bin" 2>>"/ssh-c-$1.log"
	catrc=$?
	tx1=$(counter tx_bytes)
	same=$(same_bytes /ssh.bin "/ssh-got-$1.bin")
	sh_ssh "$1" "$2" "$3" 'exit 7' </dev/null 2>>"/ssh-c-$1.log"
	exit7=$?
	sed "s/^/NCVM APPLOG ssh-$1 /" "/ssh-c-$1.log"
	# SSH_CONNECTION: client address and port, server address and port
	set -- "$1" $(cat "/ssh-conn-$1.txt")
	echo "NCVM APP ssh-$1 conn_rc=$connrc cat_rc=$catrc tcp_sockets=$tcp bytes=$same" \
		"exit7=$exit7 client_addr=${2:-none} server_addr=${4:-none} server_port=${5:-none} client_errors=$(grep -c . "/ssh-c-$1.log")" \
		"nc_tx_bytes=$((tx1 - tx0))"
}

# haproxy (mode tcp, two threads) in front of nginx: it accepts the client's
# connection and makes its own to nginx at 127.0.0.1 (through the shim both
# are NetChannel's), and checks nginx every second with a connect and an
# abortive close. Started after nginx; the pid file is written by the shell
# that becomes haproxy (it writes none in the foreground).
hap_server() {		# hap_server nc|tcp port bind-address nginx-port: start, echo when listening
	d=/hap-$1
	mkdir -p "$d"
	rm -f "$d/pid"
	cat >"$d/haproxy.cfg" <<-EOF
	global
		maxconn 64
		nbthread 2
		log stderr format raw local0 info
	defaults
		mode tcp
		log global
		option tcplog
		timeout connect 10s
		timeout client 60s
		timeout server 60s
	frontend fe
		bind $3:$2
		default_backend be
	backend be
		server nginx 127.0.0.1:$4 check inter 1s
	EOF
	# shellcheck disable=SC2016 # $$ is the inner shell's, which becomes haproxy
	run "$1" timeout $SERVER_SECS sh -c 'echo $$ >"$1/pid"; exec /usr/sbin/haproxy -db -f "$1/haproxy.cfg"' \
		sh "$d" >"$d/log" 2>&1 &
	echo $! >"$d.job"
	# the pid comes before haproxy binds: then a TCP listener, or a second
	i=0
	until [ "$(tcp_on_port "$2")" != 0 ] || { [ -s "$d/pid" ] && [ $i -ge 5 ]; } || [ $i -ge 100 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	echo "NCVM APP haproxy-$1-up pid=$(cat "$d/pid" 2>/dev/null || echo none)" \
		"tcp_sockets=$(tcp_on_port "$2")"
}

# SIGUSR1: haproxy's soft stop (listeners closed, exit 0 once idle); a check
# that found nginx down or an alert counts as a failure
hap_stop() {		# hap_stop nc|tcp
	log=/hap-$1/log
	sed "s/^/NCVM APPLOG haproxy-$1 /" "$log" 2>/dev/null
	stop_server "haproxy-$1" "/hap-$1/pid" USR1 "/hap-$1.job" \
		"$(grep -cE 'is DOWN|ALERT' "$log" 2>/dev/null)"
}

# curl through haproxy: the upload curl_client stored in nginx comes back
# byte for byte, then 50 small requests over one kept-alive connection
hap_client() {		# hap_client nc|tcp port host
	url=http://$3:$2
	until_up run "$1" timeout 10 /usr/bin/curl -sS -o /dev/null "$url/"
	rm -f "/hap-got-$1.bin"
	tx0=$(counter tx_bytes)
	get=$(run "$1" timeout 120 /usr/bin/curl -sS -o "/hap-got-$1.bin" -w '%{http_code}' "$url/up/web.bin" \
		2>"/hap-c-$1.log")
	tx1=$(counter tx_bytes)
	small=$(keepalive_gets "$1" "$url" 50 "/hap-c-$1.log")
	sed "s/^/NCVM APPLOG haproxy-$1 /" "/hap-c-$1.log"
	echo "NCVM APP haproxy-$1 get_code=${get:-none} bytes=$(same_bytes /web.bin "/hap-got-$1.bin")" \
		"small_ok_conns=$small nc_tx_bytes=$((tx1 - tx0))"
}

# socat (select(), half-close): the client sends WEB_MIB MiB and, at the end
# of its input, shuts down its write side; the server's sha256sum reads to
# that EOF and its sum comes back over the half-closed connection. The
# server takes one connection and ends by itself (exit 0).
socat_server() {	# socat_server nc|tcp port bind-address: start in the background
	run "$1" timeout $SERVER_SECS /usr/bin/socat -d TCP4-LISTEN:"$2",bind="$3",reuseaddr \
		SYSTEM:sha256sum >"/socat-s-$1.log" 2>&1 &
	echo $! >"/socat-$1.job"
}

socat_stop() {		# socat_stop nc|tcp: wait for the server's end
	wait "$(cat "/socat-$1.job")"
	rc=$?
	sed "s/^/NCVM APPLOG socat-$1 /" "/socat-s-$1.log"
	echo "NCVM APP socat-$1-server server_rc=$rc log_errors=$(grep -c ' E ' "/socat-s-$1.log")"
}

socat_client() {	# socat_client nc|tcp port host
	[ -e /socat.bin ] || head -c $((WEB_MIB * 1048576)) /dev/urandom >/socat.bin
	want=$(sha256sum </socat.bin | cut -d' ' -f1)
	tx0=$(counter tx_bytes)
	# -t: after its EOF, wait up to 60 s for the other direction
	run "$1" timeout 120 /usr/bin/socat -t 60 - TCP4:"$3":"$2",retry=100,interval=0.3 \
		</socat.bin >"/socat-got-$1.txt" 2>"/socat-c-$1.log"
	crc=$?
	tx1=$(counter tx_bytes)
	got=$(cut -d' ' -f1 "/socat-got-$1.txt")
	[ "$got" = "$want" ] && sum=ok || sum="mismatch:${got:-none}"
	sed "s/^/NCVM APPLOG socat-$1 /" "/socat-c-$1.log"
	echo "NCVM APP socat-$1 client_rc=$crc sum=$sum nc_tx_bytes=$((tx1 - tx0))"
}

# a server and its client in this VM, through the shim and then over TCP
local_pair() {		# local_pair START CLIENT STOP NC_PORT TCP_PORT
	for m in nc tcp; do
		port=$4
		[ $m = tcp ] && port=$5
		"$1" $m $port 127.0.0.1
		"$2" $m $port 127.0.0.1
		"$3" $m
	done
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
	for m in nc tcp; do
		port=$NGINX_NC hport=$HAP_NC
		[ $m = tcp ] && port=$NGINX_TCP hport=$HAP_TCP
		nginx_server $m $port 127.0.0.1
		curl_client $m $port 127.0.0.1
		hap_server $m $hport 127.0.0.1 $port
		hap_client $m $hport 127.0.0.1
		hap_stop $m
		nginx_stop $m
	done
	local_pair memc_server memc_client memc_stop $MEMC_NC $MEMC_TCP
	local_pair ssh_server ssh_client ssh_stop $SSH_NC $SSH_TCP
	local_pair socat_server socat_client socat_stop $SOCAT_NC $SOCAT_TCP
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
	nginx_server nc $NGINX_NC 0.0.0.0
	nginx_server tcp $NGINX_TCP 0.0.0.0
	hap_server nc $HAP_NC 0.0.0.0 $NGINX_NC
	hap_server tcp $HAP_TCP 0.0.0.0 $NGINX_TCP
	memc_server nc $MEMC_NC 0.0.0.0
	memc_server tcp $MEMC_TCP 0.0.0.0
	ssh_server nc $SSH_NC 0.0.0.0
	ssh_server tcp $SSH_TCP 0.0.0.0
	socat_server nc $SOCAT_NC 0.0.0.0
	socat_server tcp $SOCAT_TCP 0.0.0.0
	wait $p1
	echo "NCVM APP iperf3-nc-server server_rc=$?"
	wait $p2
	echo "NCVM APP iperf3-tcp-server server_rc=$?"
	wait $p3
	echo "NCVM APP redis-nc-server server_rc=$?"
	wait $p4
	echo "NCVM APP redis-tcp-server server_rc=$?"
	# the client has finished with nginx when it has shut both redis servers down
	hap_stop nc
	hap_stop tcp
	nginx_stop nc
	nginx_stop tcp
	memc_stop nc
	memc_stop tcp
	ssh_stop nc
	ssh_stop tcp
	socat_stop nc
	socat_stop tcp
	;;
client)
	# the servers start at about the same time in the other VM
	sleep 3
	iperf_client nc $IPERF_NC "$server"
	iperf_client tcp $IPERF_TCP "$server"
	# nginx, memcached, ssh and socat before redis: the server stops them once redis is shut down
	curl_client nc $NGINX_NC "$server"
	curl_client tcp $NGINX_TCP "$server"
	hap_client nc $HAP_NC "$server"
	hap_client tcp $HAP_TCP "$server"
	memc_client nc $MEMC_NC "$server"
	memc_client tcp $MEMC_TCP "$server"
	ssh_client nc $SSH_NC "$server"
	ssh_client tcp $SSH_TCP "$server"
	socat_client nc $SOCAT_NC "$server"
	socat_client tcp $SOCAT_TCP "$server"
	redis_client nc $REDIS_NC "$server"
	redis_client tcp $REDIS_TCP "$server"
	;;
*)
	echo "usage: apps.sh local | serve | client SERVER" >&2
	exit 2
	;;
esac
