/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ncbench - shared declarations: options, latency histogram, JSON writer
 * and CPU accounting.  Everything here is pure logic (no sockets) so the
 * unit tests can link it under ASan/UBSan.
 */
#ifndef NB_H
#define NB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define NB_VERSION	"1.0.0"
#define NB_MAX_THREADS	256
#define NB_MAX_FLOWS	1024
#define NB_MAX_CPUS	1024
#define NB_ERRLEN	512

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#endif

enum nb_role { NB_ROLE_NONE, NB_ROLE_SERVER, NB_ROLE_CLIENT };
enum nb_proto { NB_PROTO_TCP, NB_PROTO_NETCHANNEL };
enum nb_workload { NB_WL_STREAM, NB_WL_RR, NB_WL_MSGRATE };

struct nb_opts {
	enum nb_role role;
	enum nb_proto proto;
	enum nb_workload workload;
	char host[256];		/* client: the server; server: bind address */
	int ctrl_port;
	int data_port;
	int threads;
	int flows;
	double duration;	/* measured window, seconds */
	double warmup;		/* excluded from the results, seconds */
	uint64_t write_size;	/* stream: bytes per write() */
	uint64_t req_size;	/* rr, msgrate: request bytes */
	uint64_t resp_size;	/* rr, msgrate: response bytes */
	int depth;		/* msgrate: requests in flight per flow */
	int priority;		/* SO_PRIORITY, -1 = leave alone */
	int sndbuf;		/* SO_SNDBUF, 0 = leave alone */
	int rcvbuf;		/* SO_RCVBUF, 0 = leave alone */
	int nodelay;		/* TCP_NODELAY */
	int uring;		/* send and receive through io_uring */
	int ncpus;		/* CPU pinning: thread i on cpus[i % ncpus] */
	int cpus[NB_MAX_CPUS];
	char cpus_str[128];
	double timeout;		/* bound on every wait, seconds */
	double interval;	/* CSV sample period, 0 = none */
	char csv[256];		/* CSV file, "" = stdout */
	char json[256];		/* JSON record file, "" = none */
	int once;		/* server: serve one test, then exit */
	double idle_timeout;	/* server: exit after this long without a client, 0 = never */
	int quiet;
};

const char *nb_proto_name(enum nb_proto p);
const char *nb_workload_name(enum nb_workload w);
const char *nb_role_name(enum nb_role r);
int nb_parse_proto(const char *s, enum nb_proto *p);
int nb_parse_workload(const char *s, enum nb_workload *w);

/* "4096", "64K", "10M", "1G" (binary multiples); 0 on success */
int nb_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* "0-3,6" -> cpus; 0 on success */
int nb_parse_cpulist(const char *s, int *cpus, int max, int *n);
/* "2", "0.5": seconds */
int nb_parse_seconds(const char *s, double min, double max, double *out);
int nb_parse_int(const char *s, long min, long max, long *out);

/*
 * One live flow's state for the "did not finish" error: what it sent and
 * received, the bytes of the message it started and could not send yet,
 * and whether each side's write half is shut.  Appends to buf (at most
 * len bytes including the NUL, "; " between flows) and returns 0, or -1
 * if it did not fit (buf then ends with "...").
 */
int nb_flow_state(char *buf, size_t len, int id, uint64_t sent, uint64_t received,
		  uint64_t unsent, int shut, int eof);

/* format one error line into err (at most len bytes); returns -1 */
int nb_errf(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "PROG: error: ..." on stderr, exit 1 */
void nb_die(const char *prog, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
/* CLOCK_MONOTONIC, seconds */
double nb_now(void);

void nb_opts_default(struct nb_opts *o);
/*
 * Parse argv into o.  Returns 0, 1 for --help/--version (text in err,
 * exit 0), -1 on bad input with one line in err naming the bad value.
 */
int nb_parse_args(int argc, char **argv, struct nb_opts *o, char *err, size_t errlen);
void nb_usage(FILE *f);

/* Settings exchanged with the server: one "key=value" per line. */
int nb_settings_format(const struct nb_opts *o, char *buf, size_t len);
int nb_settings_apply(struct nb_opts *o, const char *key, const char *val,
		      char *err, size_t errlen);

/* ---- latency histogram (log-linear, HDR style) ------------------------- */

#define NB_HIST_SUB_BITS	7
#define NB_HIST_SUB		(1u << NB_HIST_SUB_BITS)
#define NB_HIST_BUCKETS		((64 - NB_HIST_SUB_BITS + 1) * NB_HIST_SUB)

struct nb_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	double sum;
	uint64_t b[NB_HIST_BUCKETS];
};

void nb_hist_init(struct nb_hist *h);
unsigned int nb_hist_bucket(uint64_t v);
uint64_t nb_hist_lower(unsigned int bucket);
uint64_t nb_hist_upper(unsigned int bucket);
void nb_hist_add(struct nb_hist *h, uint64_t v);
void nb_hist_merge(struct nb_hist *dst, const struct nb_hist *src);
/*
 * value at percentile p (0 < p <= 100): the highest value of the bucket
 * holding the sample of rank ceil(p/100 * count), clamped to [min, max]
 */
uint64_t nb_hist_percentile(const struct nb_hist *h, double p);
double nb_hist_mean(const struct nb_hist *h);

/* ---- JSON writer ------------------------------------------------------ */

#define NB_JSON_DEPTH	16

struct nb_json {
	FILE *f;
	int depth;
	int count[NB_JSON_DEPTH];	/* members written at each level */
	int err;
};

void nb_json_init(struct nb_json *j, FILE *f);
void nb_json_obj_begin(struct nb_json *j, const char *key);
void nb_json_obj_end(struct nb_json *j);
void nb_json_arr_begin(struct nb_json *j, const char *key);
void nb_json_arr_end(struct nb_json *j);
void nb_json_str(struct nb_json *j, const char *key, const char *val);
void nb_json_int(struct nb_json *j, const char *key, int64_t val);
void nb_json_uint(struct nb_json *j, const char *key, uint64_t val);
void nb_json_num(struct nb_json *j, const char *key, double val);
void nb_json_bool(struct nb_json *j, const char *key, int val);
/* a JSON number, verbatim, if val is written like one; else a string */
void nb_json_auto(struct nb_json *j, const char *key, const char *val);
int nb_json_is_number(const char *s);
/* 0 if everything was balanced and written */
int nb_json_finish(struct nb_json *j);

/* ---- CPU accounting ---------------------------------------------------- */

struct nb_cpu_snap {
	double t;		/* monotonic seconds */
	double user_s;		/* getrusage(RUSAGE_SELF) */
	double sys_s;
	uint64_t busy_ticks;	/* /proc/stat "cpu": user nice system irq softirq steal */
	uint64_t total_ticks;	/* busy + idle + iowait */
};

struct nb_cpu_use {
	double window_s;
	double user_s;
	double sys_s;
	double proc_cores;	/* (user + sys) / window */
	double host_busy_cores;	/* busy ticks / hz / window */
	double host_util;	/* busy / total ticks, 0..1 */
	int host_cpus;
};

/* parse the aggregate "cpu " line of /proc/stat text; 0 on success */
int nb_cpu_parse_stat(const char *text, uint64_t *busy, uint64_t *total);
int nb_cpu_snapshot(struct nb_cpu_snap *s);
void nb_cpu_diff(const struct nb_cpu_snap *a, const struct nb_cpu_snap *b,
		 long hz, int ncpus, struct nb_cpu_use *u);

/* ---- key-value (Redis protocol) load generator, nckv ------------------- */

#define NB_KV_KEYLEN	14		/* "key:" and ten digits */
#define NB_KV_KEYS_MAX	((uint64_t)10000000000)
#define NB_KV_VALUE_MAX	(64u << 20)
#define NB_RESP_LINE	256		/* longest reply line we accept, with CRLF */
#define NB_RESP_BULK_MAX (512LL << 20)	/* Redis' own bulk string limit */

/* splitmix64: the same sequence for the same seed on every host */
uint64_t nb_rng_next(uint64_t *state);
/* uniform in [0, 1) */
double nb_rng_unit(uint64_t *state);

/* the key of index idx ("key:0000000042"), NUL-terminated; its length */
size_t nb_kv_key(char *buf, size_t len, uint64_t idx);
/* bytes of a GET, or of a SET of vlen bytes, of key idx */
size_t nb_kv_cmd_len(int set, size_t vlen);
/*
 * Write "GET key" or "SET key value" as a RESP array of bulk strings into
 * buf; returns its length, or 0 if it does not fit in len.
 */
size_t nb_kv_cmd(char *buf, size_t len, int set, uint64_t idx, const char *val, size_t vlen);

enum nb_resp_state { NB_RESP_TYPE, NB_RESP_LINE_IN, NB_RESP_BULK_IN };

/* incremental parser of RESP2 replies (simple string, error, integer, bulk) */
struct nb_resp {
	enum nb_resp_state state;
	char type;
	int cr;			/* the line's last byte was CR */
	int trunc;		/* an error line longer than line[]: the rest dropped */
	size_t llen;
	char line[NB_RESP_LINE];
	int64_t left;		/* bulk bytes + CRLF still to come */
	int64_t bulk;
};

struct nb_resp_reply {
	char type;		/* '+', '-', ':' or '$' */
	int64_t len;		/* '$': bulk length, -1 = nil; ':': the integer */
	char text[NB_RESP_LINE];	/* '+', '-': the line without CRLF ("..." if cut) */
};

void nb_resp_init(struct nb_resp *p);
/*
 * Consume at most n bytes of buf, stopping right after one complete reply.
 * Returns the bytes consumed and sets *done (and *r) when a reply ended;
 * -1 on bytes that are not a RESP reply, with the reason in err.
 */
long nb_resp_feed(struct nb_resp *p, const char *buf, size_t n, struct nb_resp_reply *r,
		  int *done, char *err, size_t errlen);

struct nb_kv_opts {
	char host[256];
	int port;
	int conns;		/* connections, spread over the threads */
	int threads;
	int depth;		/* requests in flight per connection */
	double get_ratio;	/* share of GETs; the rest are SETs */
	uint64_t keys;		/* key space: key:0 .. key:keys-1 */
	uint64_t value_size;
	double duration;	/* measured window, seconds */
	double warmup;
	uint64_t seed;
	int populate;		/* SET every key once before the warm-up (never with get_ratio 0) */
	double timeout;		/* connect, and the longest wait for any reply */
};

void nb_kv_opts_default(struct nb_kv_opts *o);
/* as nb_parse_args: 0, 1 for --help/--version (text in err), -1 with one line in err */
int nb_kv_parse_args(int argc, char **argv, struct nb_kv_opts *o, char *err, size_t errlen);
void nb_kv_usage(FILE *f);

#endif /* NB_H */
