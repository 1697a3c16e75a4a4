// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests of ncbench's pure parts (run under ASan/UBSan by
 * "make -C module_src bench-unit"): argument and settings parsing, the
 * histogram against a sorted reference, the JSON writer (its output is
 * parsed back by check_json.py) and the CPU accounting arithmetic.
 *
 * usage: test_bench JSON_OUT
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../nb.h"

static int checks, failures;

#define CHECK(cond)							\
	do {								\
		checks++;						\
		if (!(cond)) {						\
			failures++;					\
			fprintf(stderr, "  FAIL %s:%d: %s\n",		\
				__FILE__, __LINE__, #cond);		\
		}							\
	} while (0)

/* argv of prog and args (NULL-terminated); returns argc */
static int make_argv(char **argv, const char *prog, const char *const *args)
{
	int argc = 0;

	argv[argc++] = (char *)prog;
	while (*args && argc < 63)
		argv[argc++] = (char *)*args++;
	argv[argc] = NULL;
	return argc;
}

static int parse(struct nb_opts *o, char *err, const char *const *args)
{
	char *argv[64];
	int argc = make_argv(argv, "ncbench", args);

	err[0] = '\0';
	return nb_parse_args(argc, argv, o, err, NB_ERRLEN);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void bad_args(const char *const *args, const char *want)
{
	struct nb_opts o;
	char err[NB_ERRLEN];
	int rc = parse(&o, err, args);

	CHECK(rc == -1);
	if (!strstr(err, want)) {
		failures++;
		fprintf(stderr, "  FAIL error '%s' does not contain '%s'\n", err, want);
	}
	checks++;
}

static void test_args(void)
{
	struct nb_opts o;
	char err[NB_ERRLEN];

	CHECK(parse(&o, err, ARGS("-c", "198.18.0.1")) == 0);
	CHECK(o.role == NB_ROLE_CLIENT && !strcmp(o.host, "198.18.0.1"));
	CHECK(o.proto == NB_PROTO_TCP && o.workload == NB_WL_STREAM);
	CHECK(o.threads == 1 && o.flows == 1 && o.duration == 10 && o.warmup == 1);
	CHECK(o.write_size == 1 << 20 && o.priority == -1 && o.ctrl_port == 12865);

	CHECK(parse(&o, err, ARGS("--client", "h", "-p", "netchannel", "-W", "msgrate",
				  "-T", "2", "-F", "8", "-l", "2.5", "-w", "0", "-Q", "64",
				  "-R", "1K", "-D", "16", "--priority", "6", "--pin-cpus",
				  "0-2,5", "--sndbuf", "256K", "--rcvbuf", "1M", "--nodelay",
				  "--timeout", "3", "--interval", "0.5", "--csv", "x.csv",
				  "--json", "x.json", "-C", "2000", "-P", "2001", "--uring")) == 0);
	CHECK(o.proto == NB_PROTO_NETCHANNEL && o.workload == NB_WL_MSGRATE);
	CHECK(o.threads == 2 && o.flows == 8 && o.duration == 2.5 && o.warmup == 0);
	CHECK(o.req_size == 64 && o.resp_size == 1024 && o.depth == 16);
	CHECK(o.priority == 6 && o.sndbuf == 256 * 1024 && o.rcvbuf == 1 << 20 && o.nodelay);
	CHECK(o.ncpus == 4 && o.cpus[0] == 0 && o.cpus[2] == 2 && o.cpus[3] == 5);
	CHECK(o.timeout == 3 && o.interval == 0.5 && !strcmp(o.csv, "x.csv"));
	CHECK(!strcmp(o.json, "x.json") && o.ctrl_port == 2000 && o.data_port == 2001);
	CHECK(o.uring == 1);

	CHECK(parse(&o, err, ARGS("-c", "h", "-W", "rr")) == 0 && o.depth == 1);
	CHECK(parse(&o, err, ARGS("-s", "--once", "--idle-timeout", "5",
				  "--bind", "198.18.0.1")) == 0);
	CHECK(o.role == NB_ROLE_SERVER && o.once && o.idle_timeout == 5);
	CHECK(parse(&o, err, ARGS("--help")) == 1);
	CHECK(parse(&o, err, ARGS("-V")) == 2 && strstr(err, NB_VERSION));

	bad_args(ARGS("-l", "1"), "need --server or --client");
	bad_args(ARGS("-s", "-c", "h"), "exclude each other");
	bad_args(ARGS("-c", "h", "-p", "udp"), "--protocol 'udp'");
	bad_args(ARGS("-c", "h", "-W", "bulk"), "--workload 'bulk'");
	bad_args(ARGS("-c", "h", "-T", "0"), "--threads '0'");
	bad_args(ARGS("-c", "h", "-F", "x"), "--flows 'x'");
	bad_args(ARGS("-c", "h", "-T", "4", "-F", "2"), "--threads 4 > --flows 2");
	bad_args(ARGS("-c", "h", "-B", "10X"), "--write-size '10X'");
	bad_args(ARGS("-c", "h", "-B", "0"), "--write-size '0'");
	bad_args(ARGS("-c", "h", "-l", "-1"), "--length '-1'");
	bad_args(ARGS("-c", "h", "-l", "nan"), "--length 'nan'");
	bad_args(ARGS("-c", "h", "-W", "rr", "-D", "4"), "--depth is for");
	bad_args(ARGS("-c", "h", "--pin-cpus", "3-1"), "--pin-cpus '3-1'");
	bad_args(ARGS("-c", "h", "--priority", "300"), "--priority '300'");
	bad_args(ARGS("-c", "h", "--sndbuf", "12"), "--sndbuf '12'");
	bad_args(ARGS("-c", "h", "-C", "70000"), "--control-port '70000'");
	bad_args(ARGS("-c", "h", "-C", "5000", "-P", "5000"), "both 5000");
	bad_args(ARGS("-c", "h", "--csv", "f"), "--csv needs --interval");
	bad_args(ARGS("-c", "h", "--once"), "server options");
	bad_args(ARGS("-s", "-W", "rr"), "-W is chosen by the client");
	bad_args(ARGS("-s", "--interval", "1"), "client option");
	bad_args(ARGS("-c", "h", "--bogus"), "unknown option '--bogus'");
	bad_args(ARGS("-c", "h", "-l"), "-l needs a value");
	bad_args(ARGS("-c", "h", "extra"), "unexpected argument 'extra'");
}

static void test_sizes(void)
{
	uint64_t v;
	int cpus[8], n;

	CHECK(nb_parse_size("4096", 1, UINT64_MAX, &v) == 0 && v == 4096);
	CHECK(nb_parse_size("64K", 1, UINT64_MAX, &v) == 0 && v == 65536);
	CHECK(nb_parse_size("10M", 1, UINT64_MAX, &v) == 0 && v == 10u << 20);
	CHECK(nb_parse_size("1g", 1, UINT64_MAX, &v) == 0 && v == 1u << 30);
	CHECK(nb_parse_size("0", 1, 10, &v) == -1);
	CHECK(nb_parse_size("11", 1, 10, &v) == -1);
	CHECK(nb_parse_size("1T", 1, UINT64_MAX, &v) == -1);
	CHECK(nb_parse_size("10MB", 1, UINT64_MAX, &v) == -1);
	CHECK(nb_parse_size("K", 1, UINT64_MAX, &v) == -1);
	CHECK(nb_parse_size("-5", 0, UINT64_MAX, &v) == -1);
	CHECK(nb_parse_size("99999999999999999999", 0, UINT64_MAX, &v) == -1);
	CHECK(nb_parse_size("17179869184G", 0, UINT64_MAX, &v) == -1);

	CHECK(nb_parse_cpulist("0-3,6", cpus, 8, &n) == 0 && n == 5 && cpus[4] == 6);
	CHECK(nb_parse_cpulist("7", cpus, 8, &n) == 0 && n == 1 && cpus[0] == 7);
	CHECK(nb_parse_cpulist("0-8", cpus, 8, &n) == -1);	/* more than fit */
	CHECK(nb_parse_cpulist("1,", cpus, 8, &n) == -1);
	CHECK(nb_parse_cpulist("a", cpus, 8, &n) == -1);
	CHECK(nb_parse_cpulist("1-", cpus, 8, &n) == -1);
	CHECK(nb_parse_cpulist("", cpus, 8, &n) == -1);
	CHECK(nb_parse_cpulist("5000", cpus, 8, &n) == -1);
}

static void test_settings(void)
{
	struct nb_opts a, b;
	char buf[2048], err[NB_ERRLEN], *line, *save = NULL, *eq;

	nb_opts_default(&a);
	a.proto = NB_PROTO_NETCHANNEL;
	a.workload = NB_WL_MSGRATE;
	a.threads = 3;
	a.flows = 7;
	a.duration = 1.25;
	a.warmup = 0.5;
	a.write_size = 12345;
	a.req_size = 100;
	a.resp_size = 200;
	a.depth = 9;
	a.priority = 7;
	a.sndbuf = 4096;
	a.rcvbuf = 8192;
	a.nodelay = 1;
	a.uring = 1;
	a.data_port = 4444;
	CHECK(nb_settings_format(&a, buf, sizeof(buf)) > 0);
	nb_opts_default(&b);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		CHECK(eq);
		if (!eq)
			break;
		*eq = '\0';
		CHECK(nb_settings_apply(&b, line, eq + 1, err, sizeof(err)) == 0);
	}
	CHECK(b.proto == a.proto && b.workload == a.workload && b.threads == 3);
	CHECK(b.flows == 7 && b.duration == 1.25 && b.warmup == 0.5);
	CHECK(b.write_size == 12345 && b.req_size == 100 && b.resp_size == 200);
	CHECK(b.depth == 9 && b.priority == 7 && b.sndbuf == 4096 && b.rcvbuf == 8192);
	CHECK(b.nodelay == 1 && b.data_port == 4444 && b.uring == 1);
	CHECK(nb_settings_apply(&b, "uring", "2", err, sizeof(err)) == -1 &&
	      strstr(err, "setting uring '2'"));
	CHECK(nb_settings_format(&a, buf, 10) == -1);
	CHECK(nb_settings_apply(&b, "flows", "0", err, sizeof(err)) == -1 &&
	      strstr(err, "setting flows '0'"));
	CHECK(nb_settings_apply(&b, "color", "red", err, sizeof(err)) == -1 &&
	      strstr(err, "unknown setting 'color'"));
}

/* xorshift64*: reproducible random data */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void check_percentiles(const char *what, uint64_t *v, size_t n)
{
	static const double ps[] = { 0.001, 1, 50, 90, 99, 99.9, 99.99, 100 };
	struct nb_hist *h = malloc(sizeof(*h)), *h2 = malloc(sizeof(*h2));
	double sum = 0;
	size_t i, rank;

	nb_hist_init(h);
	nb_hist_init(h2);
	for (i = 0; i < n; i++) {
		nb_hist_add(i % 2 ? h : h2, v[i]);
		sum += (double)v[i];
	}
	nb_hist_merge(h, h2);
	qsort(v, n, sizeof(*v), cmp_u64);
	CHECK(h->count == n && h->min == v[0] && h->max == v[n - 1]);
	sum /= (double)n;
	CHECK(fabs(nb_hist_mean(h) - sum) <= 1e-9 * sum);
	for (i = 0; i < ARRAY_SIZE(ps); i++) {
		uint64_t got = nb_hist_percentile(h, ps[i]), ref;

		rank = (size_t)ceil(ps[i] / 100.0 * (double)n);
		ref = v[(rank ? rank : 1) - 1];
		/* never below the true value, at most one bucket (1/128) above */
		checks++;
		if (got < ref || (double)(got - ref) > (double)ref / NB_HIST_SUB + 1) {
			failures++;
			fprintf(stderr, "  FAIL %s p%g: histogram %llu, sorted reference %llu\n",
				what, ps[i], (unsigned long long)got, (unsigned long long)ref);
		}
	}
	free(h);
	free(h2);
}

static void test_hist(void)
{
	size_t n = 200000, i;
	uint64_t *v = malloc(n * sizeof(*v)), x;
	unsigned int b;
	struct nb_hist *h = malloc(sizeof(*h));

	/* bucket bounds: every value inside its bucket, buckets in order and narrow */
	checks++;
	for (i = 0; i < 100000; i++) {
		x = rnd() >> (rnd() % 64);
		b = nb_hist_bucket(x);
		if (b >= NB_HIST_BUCKETS || nb_hist_lower(b) > x || nb_hist_upper(b) < x ||
		    (x >= NB_HIST_SUB &&
		     nb_hist_upper(b) - nb_hist_lower(b) > nb_hist_lower(b) / NB_HIST_SUB)) {
			failures++;
			fprintf(stderr, "  FAIL bucket of %llu\n", (unsigned long long)x);
			break;
		}
	}
	for (b = 1; b < NB_HIST_BUCKETS; b++)
		if (nb_hist_lower(b) != nb_hist_upper(b - 1) + 1)
			break;
	CHECK(b == NB_HIST_BUCKETS);
	CHECK(nb_hist_bucket(UINT64_MAX) == NB_HIST_BUCKETS - 1);
	CHECK(nb_hist_upper(NB_HIST_BUCKETS - 1) == UINT64_MAX);

	nb_hist_init(h);
	CHECK(nb_hist_percentile(h, 50) == 0 && nb_hist_mean(h) == 0);
	nb_hist_add(h, 1234567);
	CHECK(nb_hist_percentile(h, 50) == 1234567 && nb_hist_percentile(h, 99.9) == 1234567);
	free(h);

	for (i = 0; i < n; i++)		/* uniform 0..10 ms in ns */
		v[i] = rnd() % 10000000;
	check_percentiles("uniform", v, n);
	for (i = 0; i < n; i++)		/* log-uniform 1 ns .. 2^40 ns: heavy tail */
		v[i] = (rnd() >> (24 + rnd() % 40)) + 1;
	check_percentiles("log-uniform", v, n);
	for (i = 0; i < n; i++)		/* mostly 20 us with rare 50 ms outliers */
		v[i] = rnd() % 1000 ? 20000 + rnd() % 3000 : 50000000 + rnd() % 1000;
	check_percentiles("bimodal", v, n);
	for (i = 0; i < 1000; i++)	/* small exact values */
		v[i] = rnd() % 100;
	check_percentiles("small", v, 1000);
	free(v);
}

static void test_json(const char *path)
{
	struct nb_json j;
	FILE *f = fopen(path, "w");
	char *mem;
	size_t len;

	CHECK(f);
	if (!f)
		return;
	nb_json_init(&j, f);
	nb_json_obj_begin(&j, NULL);
	nb_json_str(&j, "plain", "ncbench");
	nb_json_str(&j, "tricky", "quote\" backslash\\ nl\n tab\t bell\a del\x7f \xc3\xa9");
	nb_json_str(&j, "null", NULL);
	nb_json_int(&j, "neg", -42);
	nb_json_uint(&j, "big", UINT64_MAX);
	nb_json_num(&j, "pi", 3.141592653589793);
	nb_json_num(&j, "nan", NAN);
	nb_json_num(&j, "inf", INFINITY);
	nb_json_bool(&j, "yes", 1);
	nb_json_auto(&j, "auto_int", "12");
	nb_json_auto(&j, "auto_float", "1e3");
	nb_json_auto(&j, "auto_hex", "0x10");
	nb_json_auto(&j, "auto_nan", "nan");
	nb_json_auto(&j, "auto_word", "yes");
	nb_json_auto(&j, "auto_empty", "");
	nb_json_auto(&j, "auto_lead0", "007");
	nb_json_auto(&j, "auto_neg", "-0.25");
	nb_json_auto(&j, "auto_dot", "1.");
	nb_json_num(&j, "tenth", 0.1);
	nb_json_arr_begin(&j, "flows");
	nb_json_obj_begin(&j, NULL);
	nb_json_int(&j, "id", 0);
	nb_json_obj_end(&j);
	nb_json_obj_begin(&j, NULL);
	nb_json_obj_end(&j);
	nb_json_arr_end(&j);
	nb_json_arr_begin(&j, "empty");
	nb_json_arr_end(&j);
	nb_json_obj_begin(&j, "nested");
	nb_json_obj_begin(&j, "deeper");
	nb_json_num(&j, "x", -0.5);
	nb_json_obj_end(&j);
	nb_json_obj_end(&j);
	nb_json_obj_end(&j);
	CHECK(nb_json_finish(&j) == 0);
	fclose(f);

	CHECK(nb_json_is_number("0") && nb_json_is_number("-12.5e+3") && nb_json_is_number("1E9"));
	CHECK(!nb_json_is_number("") && !nb_json_is_number("+1") && !nb_json_is_number("01"));
	CHECK(!nb_json_is_number(".5") && !nb_json_is_number("1e") && !nb_json_is_number("inf"));
	CHECK(!nb_json_is_number("nan") && !nb_json_is_number("0x10") && !nb_json_is_number("1 "));

	/* unbalanced or misplaced: reported, not silently written */
	f = open_memstream(&mem, &len);
	nb_json_init(&j, f);
	nb_json_obj_begin(&j, NULL);
	CHECK(nb_json_finish(&j) == -1);
	nb_json_init(&j, f);
	nb_json_str(&j, "key", "outside an object");
	CHECK(nb_json_finish(&j) == -1);
	nb_json_init(&j, f);
	nb_json_obj_end(&j);
	CHECK(nb_json_finish(&j) == -1);
	fclose(f);
	free(mem);
}

static void test_cpu(void)
{
	const char *stat = "cpu  100 5 50 1000 20 3 2 1 0 0\n"
			   "cpu0 50 2 25 500 10 1 1 0 0 0\nintr 1\n";
	struct nb_cpu_snap a = { 0 }, b = { 0 };
	struct nb_cpu_use u;
	uint64_t busy, total;

	CHECK(nb_cpu_parse_stat(stat, &busy, &total) == 0);
	CHECK(busy == 100 + 5 + 50 + 3 + 2 + 1 && total == busy + 1000 + 20);
	CHECK(nb_cpu_parse_stat("intr 1\ncpu  7 0 3 90\n", &busy, &total) == 0 &&
	      busy == 10 && total == 100);	/* old kernels: 4 fields */
	CHECK(nb_cpu_parse_stat("cpu0 1 2 3 4\n", &busy, &total) == -1);
	CHECK(nb_cpu_parse_stat("cpu  1 2\n", &busy, &total) == -1);
	CHECK(nb_cpu_parse_stat("", &busy, &total) == -1);

	a.t = 10;
	a.user_s = 1;
	a.sys_s = 0.5;
	a.busy_ticks = 1000;
	a.total_ticks = 5000;
	b.t = 12;
	b.user_s = 2;
	b.sys_s = 1.5;
	b.busy_ticks = 1400;
	b.total_ticks = 5400;
	nb_cpu_diff(&a, &b, 100, 4, &u);
	CHECK(u.window_s == 2 && u.user_s == 1 && u.sys_s == 1);
	CHECK(u.proc_cores == 1 && u.host_busy_cores == 2 && u.host_util == 1);
	CHECK(u.host_cpus == 4);
	b.total_ticks = 5800;
	nb_cpu_diff(&a, &b, 100, 4, &u);
	CHECK(u.host_util == 0.5);
	b.busy_ticks = 900;	/* counters went backwards: no negative figures */
	b.t = 10;		/* empty window */
	nb_cpu_diff(&a, &b, 100, 4, &u);
	CHECK(u.host_busy_cores == 0 && u.proc_cores == 0 && u.host_util == 0);

	CHECK(nb_cpu_snapshot(&a) == 0);
	CHECK(a.total_ticks >= a.busy_ticks && a.total_ticks > 0 && a.t > 0);
}

/* the per-flow detail of the "did not finish" error */
static void test_flow_state(void)
{
	char buf[NB_ERRLEN - 128], small[40];

	buf[0] = '\0';
	CHECK(nb_flow_state(buf, sizeof(buf), 0, 4194296, 0, 8, 0, 0) == 0);
	CHECK(!strcmp(buf, "flow 0: sent 4194296 B, received 0 B, 8 B of a message unsent, not shut, no EOF"));
	CHECK(nb_flow_state(buf, sizeof(buf), 1, 4194304, 0, 0, 1, 0) == 0);
	CHECK(!strcmp(buf, "flow 0: sent 4194296 B, received 0 B, 8 B of a message unsent, not shut, no EOF; "
		      "flow 1: sent 4194304 B, received 0 B, shut, no EOF"));
	buf[0] = '\0';
	CHECK(nb_flow_state(buf, sizeof(buf), 3, 0, 12, 0, 0, 1) == 0);
	CHECK(!strcmp(buf, "flow 3: sent 0 B, received 12 B, not shut, EOF seen"));

	/* too long: cut, marked, NUL-terminated; a full buffer stays full */
	small[0] = '\0';
	CHECK(nb_flow_state(small, sizeof(small), 0, 4194296, 0, 8, 0, 0) == -1);
	CHECK(strlen(small) == sizeof(small) - 1);
	CHECK(!strcmp(small + sizeof(small) - 4, "..."));
	CHECK(!strncmp(small, "flow 0: sent 4194296 B", 22));
	CHECK(nb_flow_state(small, sizeof(small), 1, 1, 1, 0, 1, 1) == -1);
	CHECK(strlen(small) == sizeof(small) - 1);
}

/* ---- nckv: commands, replies, options ---------------------------------- */

static void test_kv_cmds(void)
{
	char buf[128], key[NB_KV_KEYLEN + 1];
	const char *get = "*2\r\n$3\r\nGET\r\n$14\r\nkey:0000000042\r\n";
	const char *set = "*3\r\n$3\r\nSET\r\n$14\r\nkey:0000196607\r\n$5\r\nabcde\r\n";

	CHECK(nb_kv_key(key, sizeof(key), 7) == NB_KV_KEYLEN && !strcmp(key, "key:0000000007"));
	CHECK(nb_kv_key(key, NB_KV_KEYLEN, 7) == 0);	/* no room for the NUL */
	CHECK(nb_kv_cmd(buf, sizeof(buf), 0, 42, NULL, 0) == strlen(get));
	CHECK(!memcmp(buf, get, strlen(get)));
	CHECK(nb_kv_cmd_len(0, 0) == strlen(get));
	CHECK(nb_kv_cmd(buf, sizeof(buf), 1, 196607, "abcde", 5) == strlen(set));
	CHECK(!memcmp(buf, set, strlen(set)));
	CHECK(nb_kv_cmd_len(1, 5) == strlen(set));
	CHECK(nb_kv_cmd_len(1, 4096) == strlen(set) - 5 - 1 + 4096 + 4);
	/* an exact fit is a fit (the out buffer's tail is often exactly one request) */
	CHECK(nb_kv_cmd(buf, strlen(get), 0, 42, NULL, 0) == strlen(get));
	CHECK(!memcmp(buf, get, strlen(get)));
	CHECK(nb_kv_cmd(buf, strlen(set), 1, 196607, "abcde", 5) == strlen(set));
	CHECK(!memcmp(buf, set, strlen(set)));
	/* one byte short: nothing written past the end, 0 returned */
	memset(buf, 'Z', sizeof(buf));
	CHECK(nb_kv_cmd(buf, strlen(set) - 1, 1, 196607, "abcde", 5) == 0);
	CHECK(buf[strlen(set) - 1] == 'Z');
	CHECK(nb_kv_cmd(buf, strlen(get) - 1, 0, 42, NULL, 0) == 0);
}

struct want_reply {
	char type;
	long long len;
	const char *text;
};

/* feed n bytes of text in pieces of at most step bytes; the replies must be want[] */
static int feed_all(const char *text, size_t n, size_t step, const struct want_reply *want,
		    int nwant, char *err)
{
	struct nb_resp p;
	size_t at = 0;
	int got = 0;

	nb_resp_init(&p);
	err[0] = '\0';
	while (at < n) {
		size_t piece = n - at < step ? n - at : step;
		struct nb_resp_reply r;
		int done;
		long used = nb_resp_feed(&p, text + at, piece, &r, &done, err, NB_ERRLEN);

		if (used < 0)
			return -1;
		if (used == 0 || (size_t)used > piece)
			return -2;
		at += (size_t)used;
		if (!done)
			continue;
		if (got >= nwant || r.type != want[got].type || r.len != want[got].len ||
		    strcmp(r.text, want[got].text))
			return -3;
		got++;
	}
	return got == nwant && p.state == NB_RESP_TYPE ? 0 : -4;
}

/* n bytes of text (0: strlen) must fail, at every split, with an error naming want */
static void bad_reply_n(const char *text, size_t n, const char *want)
{
	char err[NB_ERRLEN];
	size_t step;

	n = n ? n : strlen(text);
	for (step = 1; step <= n; step++) {
		checks++;
		if (feed_all(text, n, step, NULL, 0, err) != -1 || !strstr(err, want)) {
			failures++;
			fprintf(stderr, "  FAIL reply %.20s (step %zu): '%s' does not contain '%s'\n",
				text, step, err, want);
			return;
		}
	}
}

static void bad_reply(const char *text, const char *want)
{
	bad_reply_n(text, 0, want);
}

static void test_resp(void)
{
	static char big[9000];
	const struct want_reply want[] = {
		{ '+', 0, "OK" }, { '$', 5, "" }, { '$', -1, "" }, { ':', 42, "" },
		{ '-', 0, "ERR wrong number of arguments" }, { '$', 0, "" }, { ':', -7, "" },
		{ '$', 8000, "" },
	};
	char err[NB_ERRLEN];
	size_t step, at;

	at = (size_t)snprintf(big, sizeof(big), "+OK\r\n$5\r\nhe\r\no\r\n$-1\r\n:42\r\n"
			      "-ERR wrong number of arguments\r\n$0\r\n\r\n:-7\r\n$8000\r\n");
	memset(big + at, '\r', 8000);	/* a bulk may hold CR and LF */
	memcpy(big + at + 8000, "\r\n", 3);
	/* the same replies whatever the pieces the bytes come in */
	for (step = 1; step <= strlen(big); step += step < 40 ? 1 : 997)
		CHECK(feed_all(big, strlen(big), step, want, ARRAY_SIZE(want), err) == 0);

	bad_reply("*1\r\n$2\r\nOK\r\n", "an array");
	bad_reply("hello", "0x68");
	bad_reply("+OK\n", "LF without CR");
	bad_reply("+O\rK\r\n", "CR inside");
	bad_reply("$5\r\nhelloXY", "not followed by CRLF");
	bad_reply("$5\r\nhello\rX", "not followed by CRLF");
	bad_reply("$abc\r\n", "'$abc': not a number");
	bad_reply(":\r\n", "reply ':' with no number");
	bad_reply("$-2\r\n", "bulk reply of -2 bytes");
	bad_reply("$999999999999\r\n", "bulk reply of 999999999999 bytes");
	/* numbers as Redis never writes them */
	bad_reply("$+5\r\n", "'$+5': not a number");
	bad_reply("$\t5\r\n", "not a number");
	bad_reply("$ 5\r\n", "not a number");
	bad_reply("$0005\r\n", "'$0005': not a number");
	bad_reply("$-01\r\n", "'$-01': not a number");
	bad_reply("$-0\r\n", "'$-0': not a number");
	bad_reply("$5x\r\n", "'$5x': not a number");
	bad_reply(":9223372036854775808\r\n", "not a number");
	bad_reply(":-9223372036854775809\r\n", "not a number");
	bad_reply_n("+OK\0junk\r\n", 10, "NUL inside a reply line");
	bad_reply("+OK\r\r\n", "CR inside");
	memset(big, 'x', 300);
	big[0] = '+';
	memcpy(big + 300, "\r\n", 3);
	bad_reply(big, "longer than 254 bytes");
	{
		/* the integers at int64's ends; an error line too long keeps its start, marked */
		const struct want_reply ends[] = {
			{ ':', INT64_MAX, "" }, { ':', INT64_MIN, "" }, { ':', 0, "" },
		};
		const char *e = ":9223372036854775807\r\n:-9223372036854775808\r\n:0\r\n";
		struct nb_resp p;
		struct nb_resp_reply r;
		int done;

		CHECK(feed_all(e, strlen(e), 1, ends, ARRAY_SIZE(ends), err) == 0);
		big[0] = '-';
		nb_resp_init(&p);
		CHECK(nb_resp_feed(&p, big, 302, &r, &done, err, NB_ERRLEN) == 302 && done);
		CHECK(r.type == '-' && strlen(r.text) == 254);
		CHECK(!strncmp(r.text, "xxx", 3) && !strcmp(r.text + 251, "..."));
	}
}

static int kv_parse(struct nb_kv_opts *o, char *err, const char *const *args)
{
	char *argv[64];
	int argc = make_argv(argv, "nckv", args);

	err[0] = '\0';
	return nb_kv_parse_args(argc, argv, o, err, NB_ERRLEN);
}

static void kv_bad(const char *const *args, const char *want)
{
	struct nb_kv_opts o;
	char err[NB_ERRLEN];

	checks++;
	if (kv_parse(&o, err, args) != -1 || !strstr(err, want)) {
		failures++;
		fprintf(stderr, "  FAIL nckv error '%s' does not contain '%s'\n", err, want);
	}
}

static void test_kv_args(void)
{
	struct nb_kv_opts o;
	char err[NB_ERRLEN];
	uint64_t s1 = 5, s2 = 5, s3 = 6;
	int i, gets = 0;

	CHECK(kv_parse(&o, err, ARGS("-H", "198.18.0.2")) == 0);
	CHECK(!strcmp(o.host, "198.18.0.2") && o.port == 6379 && o.conns == 8 && o.depth == 1);
	CHECK(o.keys == 196608 && o.value_size == 4096 && o.get_ratio == 0.95 && o.populate);
	CHECK(kv_parse(&o, err, ARGS("--host", "h", "-p", "12879", "-c", "16", "-T", "2", "-D",
				     "64", "-g", "0.5", "-k", "192K", "-d", "1K", "-l", "3", "-w",
				     "0", "--seed", "9", "--no-populate", "--timeout", "2.5")) == 0);
	CHECK(o.port == 12879 && o.conns == 16 && o.threads == 2 && o.depth == 64);
	CHECK(o.get_ratio == 0.5 && o.keys == 196608 && o.value_size == 1024);
	CHECK(o.duration == 3 && o.warmup == 0 && o.seed == 9 && !o.populate && o.timeout == 2.5);
	CHECK(kv_parse(&o, err, ARGS("--version")) == 1 && strstr(err, NB_VERSION));
	CHECK(kv_parse(&o, err, ARGS("--help")) == 1);

	kv_bad(ARGS("-p", "1"), "--host is required");
	kv_bad(ARGS("-H", "h", "-p", "0"), "--port '0'");
	kv_bad(ARGS("-H", "h", "-c", "0"), "--conns '0'");
	kv_bad(ARGS("-H", "h", "-c", "2", "-T", "3"), "--threads 3 > --conns 2");
	kv_bad(ARGS("-H", "h", "-D", "2000"), "--depth '2000'");
	kv_bad(ARGS("-H", "h", "-g", "1.5"), "--get-ratio '1.5'");
	kv_bad(ARGS("-H", "h", "-g", "nan"), "--get-ratio 'nan'");
	kv_bad(ARGS("-H", "h", "-k", "0"), "--keys '0'");
	kv_bad(ARGS("-H", "h", "-k", "200M"), "populating more than");
	/* SETs only: nothing to fill, so any key space */
	CHECK(kv_parse(&o, err, ARGS("-H", "h", "-g", "0", "-k", "9G")) == 0 && !o.populate);
	kv_bad(ARGS("-H", "h", "-d", "65M"), "--value-size '65M'");
	kv_bad(ARGS("-H", "h", "-l", "0"), "--length '0'");
	kv_bad(ARGS("-H", "h", "--seed", "1K"), "--seed '1K'");
	kv_bad(ARGS("-H", "h", "--timeout", "x"), "--timeout 'x'");
	kv_bad(ARGS("-H", "h", "--bogus"), "unknown option '--bogus'");
	kv_bad(ARGS("-H", "h", "-D"), "-D needs a value");
	kv_bad(ARGS("-H", "h", "extra"), "unexpected argument 'extra'");
	kv_bad(ARGS("-H", ""), "--host ''");

	/* the sequence depends on the seed only; the GET share follows the ratio */
	for (i = 0; i < 100; i++)
		CHECK(nb_rng_next(&s1) == nb_rng_next(&s2));
	CHECK(nb_rng_next(&s1) != nb_rng_next(&s3));
	for (i = 0; i < 100000; i++) {
		double u = nb_rng_unit(&s1);

		CHECK(u >= 0 && u < 1);
		gets += u < 0.95;
	}
	CHECK(gets > 94500 && gets < 95500);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: test_bench JSON_OUT\n");
		return 2;
	}
	test_args();
	test_sizes();
	test_settings();
	test_hist();
	test_json(argv[1]);
	test_cpu();
	test_flow_state();
	test_kv_cmds();
	test_resp();
	test_kv_args();
	printf("ncbench unit: %d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
