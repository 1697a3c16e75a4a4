// SPDX-License-Identifier: GPL-2.0
/*
 * ncbench - command line and settings parsing.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "nb.h"

static const char *const proto_names[] = { "tcp", "netchannel" };
static const char *const wl_names[] = { "stream", "rr", "msgrate" };

const char *nb_proto_name(enum nb_proto p)
{
	return proto_names[p];
}

const char *nb_workload_name(enum nb_workload w)
{
	return wl_names[w];
}

const char *nb_role_name(enum nb_role r)
{
	return r == NB_ROLE_SERVER ? "server" : r == NB_ROLE_CLIENT ? "client" : "none";
}

int nb_parse_proto(const char *s, enum nb_proto *p)
{
	if (!strcmp(s, "tcp"))
		*p = NB_PROTO_TCP;
	else if (!strcmp(s, "netchannel") || !strcmp(s, "nc"))
		*p = NB_PROTO_NETCHANNEL;
	else
		return -1;
	return 0;
}

int nb_parse_workload(const char *s, enum nb_workload *w)
{
	if (!strcmp(s, "stream"))
		*w = NB_WL_STREAM;
	else if (!strcmp(s, "rr"))
		*w = NB_WL_RR;
	else if (!strcmp(s, "msgrate"))
		*w = NB_WL_MSGRATE;
	else
		return -1;
	return 0;
}

int nb_parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int nb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K':
		shift = 10;
		break;
	case 'm': case 'M':
		shift = 20;
		break;
	case 'g': case 'G':
		shift = 30;
		break;
	default:
		return -1;
	}
	if (shift && end[1])
		return -1;
	if (v > (UINT64_MAX >> shift))
		return -1;
	v <<= shift;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int nb_parse_seconds(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int nb_parse_cpulist(const char *s, int *cpus, int max, int *n)
{
	const char *p = s;
	long a, b;
	char *end;

	*n = 0;
	if (!s || !*s)
		return -1;
	for (;;) {
		if (*p < '0' || *p > '9')
			return -1;
		a = strtol(p, &end, 10);
		b = a;
		if (*end == '-') {
			p = end + 1;
			if (*p < '0' || *p > '9')
				return -1;
			b = strtol(p, &end, 10);
		}
		if (a < 0 || b < a || b >= NB_MAX_CPUS)
			return -1;
		for (; a <= b; a++) {
			if (*n >= max)
				return -1;
			cpus[(*n)++] = (int)a;
		}
		if (*end == '\0')
			return 0;
		if (*end != ',')
			return -1;
		p = end + 1;
	}
}

void nb_opts_default(struct nb_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->role = NB_ROLE_NONE;
	o->proto = NB_PROTO_TCP;
	o->workload = NB_WL_STREAM;
	o->ctrl_port = 12865;
	o->data_port = 12866;
	o->threads = 1;
	o->flows = 1;
	o->duration = 10;
	o->warmup = 1;
	o->write_size = 1 << 20;
	o->req_size = 4096;
	o->resp_size = 4096;
	o->depth = 64;
	o->priority = -1;
	o->timeout = 10;
}

void nb_usage(FILE *f)
{
	fputs(
"usage: ncbench -s [--bind ADDR] [-C PORT] [--once] [--idle-timeout S] [--pin-cpus LIST]\n"
"       ncbench -c HOST [-p tcp|netchannel] [-W stream|rr|msgrate] [options]\n"
"  -s, --server            serve tests (the client chooses the settings)\n"
"  -c, --client HOST       run a test against the server on HOST\n"
"      --bind ADDR         server: address to listen on (default all)\n"
"  -p, --protocol P        tcp | netchannel (data connections; control is always TCP)\n"
"  -W, --workload W        stream | rr | msgrate (default stream)\n"
"  -C, --control-port N    control connection port (default 12865)\n"
"  -P, --port N            data port (default 12866)\n"
"  -T, --threads N         worker threads (default 1)\n"
"  -F, --flows N           data connections, spread over the threads (default 1)\n"
"  -l, --length S          measured seconds (default 10)\n"
"  -w, --warmup S          seconds before the measured window (default 1)\n"
"  -B, --write-size SIZE   stream: bytes per write (default 1M; K, M, G suffixes)\n"
"  -Q, --request-size SIZE rr, msgrate: request bytes (default 4K)\n"
"  -R, --response-size SIZE rr, msgrate: response bytes (default 4K)\n"
"  -D, --depth N           msgrate: requests in flight per flow (default 64)\n"
"      --priority N        SO_PRIORITY on data sockets (NetChannel: >= 6 is the latency class)\n"
"      --pin-cpus LIST     pin thread i to the i-th CPU of LIST (e.g. 0-3,6), cyclically\n"
"      --sndbuf SIZE       SO_SNDBUF on data sockets\n"
"      --rcvbuf SIZE       SO_RCVBUF on data sockets\n"
"      --nodelay           TCP_NODELAY on data sockets\n"
"      --uring             send and receive through io_uring, both ends (if built with liburing)\n"
"      --timeout S         bound on every wait: connect, accept, control, drain (default 10)\n"
"      --interval S        client: CSV throughput samples every S seconds\n"
"      --csv FILE          write the CSV samples to FILE instead of stdout\n"
"      --json FILE         write one JSON record to FILE ('-' for stdout)\n"
"      --once              server: exit after one test\n"
"      --idle-timeout S    server: exit with an error after S seconds without a client\n"
"  -h, --help, -V, --version\n", f);
}

enum {
	O_BIND = 256, O_PRIO, O_PIN, O_SNDBUF, O_RCVBUF, O_NODELAY, O_TIMEOUT,
	O_INTERVAL, O_CSV, O_JSON, O_ONCE, O_IDLE, O_URING,
};

static const struct option longopts[] = {
	{ "server", no_argument, NULL, 's' },
	{ "client", required_argument, NULL, 'c' },
	{ "bind", required_argument, NULL, O_BIND },
	{ "protocol", required_argument, NULL, 'p' },
	{ "workload", required_argument, NULL, 'W' },
	{ "control-port", required_argument, NULL, 'C' },
	{ "port", required_argument, NULL, 'P' },
	{ "threads", required_argument, NULL, 'T' },
	{ "flows", required_argument, NULL, 'F' },
	{ "length", required_argument, NULL, 'l' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "write-size", required_argument, NULL, 'B' },
	{ "request-size", required_argument, NULL, 'Q' },
	{ "response-size", required_argument, NULL, 'R' },
	{ "depth", required_argument, NULL, 'D' },
	{ "priority", required_argument, NULL, O_PRIO },
	{ "pin-cpus", required_argument, NULL, O_PIN },
	{ "sndbuf", required_argument, NULL, O_SNDBUF },
	{ "rcvbuf", required_argument, NULL, O_RCVBUF },
	{ "nodelay", no_argument, NULL, O_NODELAY },
	{ "uring", no_argument, NULL, O_URING },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "interval", required_argument, NULL, O_INTERVAL },
	{ "csv", required_argument, NULL, O_CSV },
	{ "json", required_argument, NULL, O_JSON },
	{ "once", no_argument, NULL, O_ONCE },
	{ "idle-timeout", required_argument, NULL, O_IDLE },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

void nb_die(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

int nb_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

static int copy_str(char *dst, size_t dlen, const char *src)
{
	if (strlen(src) >= dlen)
		return -1;
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

#define MAX_SECONDS	86400.0
#define MAX_SIZE	((uint64_t)1 << 30)

/* one setting by name; shared by the command line and the control protocol */
static int apply(struct nb_opts *o, const char *key, const char *val,
		 const char *shown, char *err, size_t len)
{
	uint64_t sz;
	long v;

	if (!strcmp(key, "protocol")) {
		if (nb_parse_proto(val, &o->proto))
			return nb_errf(err, len, "%s '%s': want tcp or netchannel", shown, val);
	} else if (!strcmp(key, "workload")) {
		if (nb_parse_workload(val, &o->workload))
			return nb_errf(err, len, "%s '%s': want stream, rr or msgrate", shown, val);
	} else if (!strcmp(key, "threads")) {
		if (nb_parse_int(val, 1, NB_MAX_THREADS, &v))
			return nb_errf(err, len, "%s '%s': want 1..%d", shown, val, NB_MAX_THREADS);
		o->threads = (int)v;
	} else if (!strcmp(key, "flows")) {
		if (nb_parse_int(val, 1, NB_MAX_FLOWS, &v))
			return nb_errf(err, len, "%s '%s': want 1..%d", shown, val, NB_MAX_FLOWS);
		o->flows = (int)v;
	} else if (!strcmp(key, "data_port")) {
		if (nb_parse_int(val, 1, 65535, &v))
			return nb_errf(err, len, "%s '%s': want a port 1..65535", shown, val);
		o->data_port = (int)v;
	} else if (!strcmp(key, "length")) {
		if (nb_parse_seconds(val, 0.1, MAX_SECONDS, &o->duration))
			return nb_errf(err, len, "%s '%s': want seconds, 0.1..86400", shown, val);
	} else if (!strcmp(key, "warmup")) {
		if (nb_parse_seconds(val, 0, MAX_SECONDS, &o->warmup))
			return nb_errf(err, len, "%s '%s': want seconds, 0..86400", shown, val);
	} else if (!strcmp(key, "timeout")) {
		if (nb_parse_seconds(val, 0.1, 3600, &o->timeout))
			return nb_errf(err, len, "%s '%s': want seconds, 0.1..3600", shown, val);
	} else if (!strcmp(key, "write_size")) {
		if (nb_parse_size(val, 1, MAX_SIZE, &o->write_size))
			return nb_errf(err, len,
				    "%s '%s': want a size 1..1G (K, M, G suffixes)", shown, val);
	} else if (!strcmp(key, "request_size")) {
		if (nb_parse_size(val, 1, 64 << 20, &o->req_size))
			return nb_errf(err, len, "%s '%s': want a size 1..64M", shown, val);
	} else if (!strcmp(key, "response_size")) {
		if (nb_parse_size(val, 1, 64 << 20, &o->resp_size))
			return nb_errf(err, len, "%s '%s': want a size 1..64M", shown, val);
	} else if (!strcmp(key, "depth")) {
		if (nb_parse_int(val, 1, 4096, &v))
			return nb_errf(err, len, "%s '%s': want 1..4096", shown, val);
		o->depth = (int)v;
	} else if (!strcmp(key, "priority")) {
		if (nb_parse_int(val, -1, 255, &v))
			return nb_errf(err, len, "%s '%s': want 0..255 (-1: leave alone)", shown, val);
		o->priority = (int)v;
	} else if (!strcmp(key, "sndbuf") || !strcmp(key, "rcvbuf")) {
		if (strcmp(val, "0") && nb_parse_size(val, 1024, INT_MAX / 2, &sz))
			return nb_errf(err, len,
				    "%s '%s': want a size 1K..1G (0: leave alone)", shown, val);
		if (!strcmp(val, "0"))
			sz = 0;
		if (key[0] == 's')
			o->sndbuf = (int)sz;
		else
			o->rcvbuf = (int)sz;
	} else if (!strcmp(key, "nodelay") || !strcmp(key, "uring")) {
		if (nb_parse_int(val, 0, 1, &v))
			return nb_errf(err, len, "%s '%s': want 0 or 1", shown, val);
		if (key[0] == 'n')
			o->nodelay = (int)v;
		else
			o->uring = (int)v;
	} else {
		return nb_errf(err, len, "unknown setting '%s'", key);
	}
	return 0;
}

int nb_settings_apply(struct nb_opts *o, const char *key, const char *val,
		      char *err, size_t errlen)
{
	char shown[64];

	snprintf(shown, sizeof(shown), "setting %s", key);
	return apply(o, key, val, shown, err, errlen);
}

int nb_settings_format(const struct nb_opts *o, char *buf, size_t len)
{
	int n = snprintf(buf, len,
		"protocol=%s\nworkload=%s\nthreads=%d\nflows=%d\ndata_port=%d\n"
		"length=%.6g\nwarmup=%.6g\ntimeout=%.6g\nwrite_size=%" PRIu64 "\n"
		"request_size=%" PRIu64 "\nresponse_size=%" PRIu64 "\ndepth=%d\n"
		"priority=%d\nsndbuf=%d\nrcvbuf=%d\nnodelay=%d\nuring=%d\n",
		nb_proto_name(o->proto), nb_workload_name(o->workload),
		o->threads, o->flows, o->data_port, o->duration, o->warmup,
		o->timeout, o->write_size, o->req_size, o->resp_size, o->depth,
		o->priority, o->sndbuf, o->rcvbuf, o->nodelay, o->uring);

	return (n < 0 || (size_t)n >= len) ? -1 : n;
}

/* the options that are settings (shared with the control protocol) */
static const struct {
	int opt;
	const char *key;
} setting_opts[] = {
	{ 'p', "protocol" }, { 'W', "workload" }, { 'P', "data_port" },
	{ 'T', "threads" }, { 'F', "flows" }, { 'l', "length" },
	{ 'w', "warmup" }, { 'B', "write_size" }, { 'Q', "request_size" },
	{ 'R', "response_size" }, { 'D', "depth" }, { O_PRIO, "priority" },
	{ O_SNDBUF, "sndbuf" }, { O_RCVBUF, "rcvbuf" }, { O_TIMEOUT, "timeout" },
};

static const char *setting_of(int opt)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(setting_opts); i++)
		if (setting_opts[i].opt == opt)
			return setting_opts[i].key;
	return NULL;
}

/* options the client decides and sends to the server */
static const char *const client_only = "pWTFlwBQRD";

int nb_parse_args(int argc, char **argv, struct nb_opts *o, char *err, size_t len)
{
	char shown[64], client_set[32] = "";
	const char *key;
	int c, idx, depth_set = 0;
	long v;

	nb_opts_default(o);
	optind = 0;	/* full re-initialisation (the tests parse many times) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":sc:p:W:C:P:T:F:l:w:B:Q:R:D:hV",
				longopts, &idx)) != -1) {
		const char *arg = optarg;

		if (c != '?' && c != ':' && strchr(client_only, c) && strlen(client_set) < 30)
			strncat(client_set, (char[]){ (char)c, 0 }, 2);
		key = setting_of(c);
		if (key) {
			for (idx = 0; longopts[idx].name; idx++)
				if (longopts[idx].val == c)
					break;
			snprintf(shown, sizeof(shown), "--%s", longopts[idx].name);
			if (apply(o, key, arg, shown, err, len))
				return -1;
			depth_set |= c == 'D';
			continue;
		}
		switch (c) {
		case 's':
			if (o->role == NB_ROLE_CLIENT)
				return nb_errf(err, len, "--server and --client exclude each other");
			o->role = NB_ROLE_SERVER;
			break;
		case 'c':
			if (o->role == NB_ROLE_SERVER)
				return nb_errf(err, len, "--server and --client exclude each other");
			o->role = NB_ROLE_CLIENT;
			if (!*arg || copy_str(o->host, sizeof(o->host), arg))
				return nb_errf(err, len,
					    "--client '%s': want a host name or address", arg);
			break;
		case O_BIND:
			if (!*arg || copy_str(o->host, sizeof(o->host), arg))
				return nb_errf(err, len, "--bind '%s': want an address", arg);
			break;
		case 'C':
			if (nb_parse_int(arg, 1, 65535, &v))
				return nb_errf(err, len,
					    "--control-port '%s': want a port 1..65535", arg);
			o->ctrl_port = (int)v;
			break;
		case O_NODELAY:
			o->nodelay = 1;
			break;
		case O_URING:
			o->uring = 1;
			break;
		case O_PIN:
			if (nb_parse_cpulist(arg, o->cpus, NB_MAX_CPUS, &o->ncpus) ||
			    copy_str(o->cpus_str, sizeof(o->cpus_str), arg))
				return nb_errf(err, len,
					    "--pin-cpus '%s': want a CPU list like 0-3,6 (CPUs < %d)",
					    arg, NB_MAX_CPUS);
			break;
		case O_INTERVAL:
			if (nb_parse_seconds(arg, 0.05, 3600, &o->interval))
				return nb_errf(err, len,
					    "--interval '%s': want seconds, 0.05..3600", arg);
			break;
		case O_CSV:
			if (!*arg || copy_str(o->csv, sizeof(o->csv), arg))
				return nb_errf(err, len,
					    "--csv '%s': want a file name (< 256 bytes)", arg);
			break;
		case O_JSON:
			if (!*arg || copy_str(o->json, sizeof(o->json), arg))
				return nb_errf(err, len,
					    "--json '%s': want a file name (< 256 bytes)", arg);
			break;
		case O_ONCE:
			o->once = 1;
			break;
		case O_IDLE:
			if (nb_parse_seconds(arg, 0, 86400, &o->idle_timeout))
				return nb_errf(err, len,
					    "--idle-timeout '%s': want seconds, 0..86400", arg);
			break;
		case 'h':
			return 1;
		case 'V':
			snprintf(err, len, "ncbench %s", NB_VERSION);
			return 2;
		case ':':
			return nb_errf(err, len, "%s needs a value", argv[optind - 1]);
		default:
			return nb_errf(err, len,
				    "unknown option '%s' (--help lists them)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nb_errf(err, len, "unexpected argument '%s'", argv[optind]);
	if (o->role == NB_ROLE_NONE)
		return nb_errf(err, len, "need --server or --client HOST");
	if (o->role == NB_ROLE_SERVER && client_set[0])
		return nb_errf(err, len, "-%c is chosen by the client, not the server", client_set[0]);
	if (o->role == NB_ROLE_SERVER && o->interval > 0)
		return nb_errf(err, len, "--interval is a client option");
	if (o->role == NB_ROLE_CLIENT && (o->once || o->idle_timeout > 0))
		return nb_errf(err, len, "--once and --idle-timeout are server options");
	if (o->role == NB_ROLE_CLIENT && o->ctrl_port == o->data_port)
		return nb_errf(err, len,
			    "--control-port and --port are both %d: they must differ", o->data_port);
	if (o->threads > o->flows)
		return nb_errf(err, len, "--threads %d > --flows %d: every thread needs a flow",
			    o->threads, o->flows);
	if (depth_set && o->workload != NB_WL_MSGRATE)
		return nb_errf(err, len,
			    "--depth is for --workload msgrate (rr keeps one request in flight)");
	if (o->workload == NB_WL_RR)
		o->depth = 1;
	if (o->csv[0] && o->interval <= 0)
		return nb_errf(err, len, "--csv needs --interval");
	return 0;
}

int nb_flow_state(char *buf, size_t len, int id, uint64_t sent, uint64_t received,
		  uint64_t unsent, int shut, int eof)
{
	size_t used = strnlen(buf, len);
	char one[200], more[64] = "";
	int n;

	if (unsent)
		snprintf(more, sizeof(more), ", %" PRIu64 " B of a message unsent", unsent);
	snprintf(one, sizeof(one), "%sflow %d: sent %" PRIu64 " B, received %" PRIu64 " B%s, %s, %s",
		 used ? "; " : "", id, sent, received, more,
		 shut ? "shut" : "not shut", eof ? "EOF seen" : "no EOF");
	if (used >= len)
		return -1;
	n = snprintf(buf + used, len - used, "%s", one);
	if (n >= 0 && (size_t)n < len - used)
		return 0;
	if (len >= 4)
		memcpy(buf + len - 4, "...", 4);
	return -1;
}
