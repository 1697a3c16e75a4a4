// SPDX-License-Identifier: GPL-2.0
/*
 * nckv - a Redis-protocol load generator for figure 7 (docs/bench-tool.md):
 * CONNS connections, each keeping DEPTH GET or SET requests in flight on
 * uniformly random keys, for a warm-up and then a measured window.  Every
 * reply is parsed and checked (a GET returns the value size or, without
 * --populate, nil; a SET returns +OK); an error reply or a byte that is not
 * RESP stops the run with the connection and the reason.
 *
 * It opens plain TCP sockets: the NetChannel variant runs it, unmodified,
 * under the wrapper (netchannel run), as it runs redis-server.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "nb.h"

struct conn {
	int id;
	int fd;
	int want_out;		/* EPOLLOUT armed */
	uint64_t rng;
	char *out;		/* requests not yet written: out[off, len) */
	size_t off, len, cap;
	double *sent_at;	/* ring of the requests in flight, oldest at head */
	unsigned char *is_set;
	int head, inflight;
	struct nb_resp rp;
	uint64_t pop_next, pop_end;	/* keys this connection populates */
	uint64_t tx_bytes, rx_bytes;
	double last_reply;
};

struct worker {
	int id;
	pthread_t tid;
	struct conn *conns;
	int nconns;
	struct nb_hist hist;
	uint64_t gets, sets, misses;	/* replies in the window; hits = gets - misses */
	char err[NB_ERRLEN];
};

static struct nb_kv_opts opts;
static struct sockaddr_storage server;
static socklen_t server_len;
static char *value;		/* the SET payload */
static pthread_barrier_t barrier;
static double t_warm, t_end;	/* written before the second barrier */
static double populate_s;
static atomic_int failed;

#define die(...) nb_die("nckv", __VA_ARGS__)

static int wfail(struct worker *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int wfail(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->err[0]) {
		va_start(ap, fmt);
		vsnprintf(w->err, sizeof(w->err), fmt, ap);
		va_end(ap);
	}
	atomic_store(&failed, 1);
	return -1;
}

static void resolve(void)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *ai;
	char port[16];
	int rc;

	snprintf(port, sizeof(port), "%d", opts.port);
	rc = getaddrinfo(opts.host, port, &hints, &ai);
	if (rc)
		die("--host %s: %s", opts.host, gai_strerror(rc));
	memcpy(&server, ai->ai_addr, ai->ai_addrlen);
	server_len = ai->ai_addrlen;
	freeaddrinfo(ai);
}

static int open_conn(struct worker *w, struct conn *c, int ep)
{
	struct timeval tv = { .tv_sec = (time_t)opts.timeout,
			      .tv_usec = (suseconds_t)((opts.timeout - floor(opts.timeout)) * 1e6) };
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	int one = 1;

	c->fd = socket(server.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return wfail(w, "connection %d: socket: %s", c->id, strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&server, server_len))
		return wfail(w, "connection %d: connect to %s port %d: %s", c->id, opts.host,
			     opts.port, errno == EINPROGRESS ? "no answer within --timeout" :
			     strerror(errno));
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) && errno != EOPNOTSUPP &&
	    errno != ENOPROTOOPT)
		return wfail(w, "connection %d: TCP_NODELAY: %s", c->id, strerror(errno));
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK))
		return wfail(w, "connection %d: O_NONBLOCK: %s", c->id, strerror(errno));
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
		return wfail(w, "connection %d: epoll: %s", c->id, strerror(errno));
	return 0;
}

static int flush(struct worker *w, struct conn *c, int ep)
{
	while (c->off < c->len) {
		ssize_t n = write(c->fd, c->out + c->off, c->len - c->off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return wfail(w, "connection %d: write: %s", c->id,
				     n ? strerror(errno) : "wrote nothing");
		c->off += (size_t)n;
		c->tx_bytes += (uint64_t)n;
	}
	if (c->off == c->len)
		c->off = c->len = 0;
	if ((c->off < c->len) != c->want_out) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

		c->want_out = c->off < c->len;
		if (c->want_out)
			ev.events |= EPOLLOUT;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev))
			return wfail(w, "connection %d: epoll: %s", c->id, strerror(errno));
	}
	return 0;
}

/* queue one request (the caller flushes) */
static int issue(struct worker *w, struct conn *c, int set, uint64_t key)
{
	size_t need = nb_kv_cmd_len(set, opts.value_size);
	int slot = (c->head + c->inflight) % opts.depth;

	if (c->len + need > c->cap) {
		memmove(c->out, c->out + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len + need > c->cap ||
	    !nb_kv_cmd(c->out + c->len, c->cap - c->len, set, key, value, opts.value_size))
		return wfail(w, "connection %d: no room for a request (%zu of %zu bytes used)",
			     c->id, c->len, c->cap);
	c->len += need;
	c->sent_at[slot] = nb_now();
	c->is_set[slot] = (unsigned char)set;
	c->inflight++;
	return 0;
}

static int issue_next(struct worker *w, struct conn *c, int measuring)
{
	if (!measuring) {	/* populating: the next key of this connection's slice */
		if (c->pop_next >= c->pop_end)
			return 0;
		return issue(w, c, 1, c->pop_next++);
	}
	{
		int set = nb_rng_unit(&c->rng) >= opts.get_ratio;

		return issue(w, c, set, nb_rng_next(&c->rng) % opts.keys);
	}
}

/* one reply to the oldest request in flight */
static int on_reply(struct worker *w, struct conn *c, const struct nb_resp_reply *r,
		    int measuring, double t)
{
	double sent;
	int set;

	if (!c->inflight)
		return wfail(w, "connection %d: a reply with no request in flight", c->id);
	set = c->is_set[c->head];
	sent = c->sent_at[c->head];
	c->head = (c->head + 1) % opts.depth;
	c->inflight--;
	c->last_reply = t;
	if (r->type == '-')
		return wfail(w, "connection %d: the server answered %s with an error: %s",
			     c->id, set ? "SET" : "GET", r->text);
	if (set && (r->type != '+' || strcmp(r->text, "OK")))
		return wfail(w, "connection %d: SET answered '%c%s', want +OK", c->id, r->type,
			     r->text);
	if (!set && (r->type != '$' || (r->len != (int64_t)opts.value_size &&
					(r->len != -1 || opts.populate))))
		return wfail(w, "connection %d: GET answered '%c' of length %lld, want a value of "
			     "%llu bytes%s", c->id, r->type, (long long)r->len,
			     (unsigned long long)opts.value_size,
			     opts.populate ? "" : " or nil");
	if (!measuring || t < t_warm || t >= t_end)
		return 0;
	if (set) {
		w->sets++;
	} else {
		w->gets++;
		w->misses += r->len < 0;
	}
	nb_hist_add(&w->hist, (uint64_t)((t - sent) * 1e9));
	return 0;
}

static int on_readable(struct worker *w, struct conn *c, int ep, int measuring, char *buf,
		       size_t blen)
{
	char err[NB_ERRLEN];

	for (;;) {
		ssize_t n = read(c->fd, buf, blen);
		double t = nb_now();
		size_t at = 0;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return wfail(w, "connection %d: read: %s", c->id, strerror(errno));
		if (!n)
			return wfail(w, "connection %d: the server closed it with %d requests in "
				     "flight", c->id, c->inflight);
		c->rx_bytes += (uint64_t)n;
		while (at < (size_t)n) {
			struct nb_resp_reply r;
			int done;
			long used = nb_resp_feed(&c->rp, buf + at, (size_t)n - at, &r, &done, err,
						 sizeof(err));

			if (used < 0)
				return wfail(w, "connection %d: %s", c->id, err);
			at += (size_t)used;
			if (!done)
				continue;
			if (on_reply(w, c, &r, measuring, t))
				return -1;
			if ((!measuring || t < t_end) && issue_next(w, c, measuring))
				return -1;
		}
		if (flush(w, c, ep))
			return -1;
	}
}

/* run the connections until every one is idle: populating, or the timed run */
static int run_phase(struct worker *w, int ep, int measuring, char *buf, size_t blen)
{
	struct epoll_event evs[64];
	int i;

	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		c->last_reply = nb_now();
		while (c->inflight < opts.depth &&
		       (measuring || c->pop_next < c->pop_end))
			if (issue_next(w, c, measuring))
				return -1;
		if (flush(w, c, ep))
			return -1;
	}
	for (;;) {
		double t = nb_now();
		int busy = 0, n;

		if (atomic_load(&failed))
			return -1;
		for (i = 0; i < w->nconns; i++) {
			struct conn *c = &w->conns[i];

			if (!c->inflight)
				continue;
			busy = 1;
			if (t - c->last_reply > opts.timeout)
				return wfail(w, "connection %d: no reply for %.1f s (--timeout) with %d "
					     "requests in flight (sent %" PRIu64 " bytes, received %"
					     PRIu64 ")", c->id, t - c->last_reply, c->inflight,
					     c->tx_bytes, c->rx_bytes);
		}
		if (!busy)
			return 0;
		n = epoll_wait(ep, evs, ARRAY_SIZE(evs), 100);
		if (n < 0 && errno != EINTR)
			return wfail(w, "epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;

			if ((evs[i].events & EPOLLOUT) && flush(w, c, ep))
				return -1;
			if ((evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
			    on_readable(w, c, ep, measuring, buf, blen))
				return -1;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	size_t blen = 256 << 10;
	char *buf = malloc(blen);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int i, ok = buf && ep >= 0;

	if (!ok)
		wfail(w, "thread %d: out of memory or epoll: %s", w->id, strerror(errno));
	for (i = 0; ok && i < w->nconns; i++)
		ok = !open_conn(w, &w->conns[i], ep);
	if (ok && opts.populate)
		ok = !run_phase(w, ep, 0, buf, blen);
	pthread_barrier_wait(&barrier);	/* everyone populated: main sets the window */
	pthread_barrier_wait(&barrier);
	if (ok && !atomic_load(&failed))
		run_phase(w, ep, 1, buf, blen);
	for (i = 0; i < w->nconns; i++)
		if (w->conns[i].fd >= 0)
			close(w->conns[i].fd);
	if (ep >= 0)
		close(ep);
	free(buf);
	return NULL;
}

static void sleep_until(double t)
{
	for (;;) {
		double left = t - nb_now();
		struct timespec ts;

		if (left <= 0 || atomic_load(&failed))
			return;
		if (left > 0.05)
			left = 0.05;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void print_options(void)
{
	printf("# options\n");
	printf("nckv_version=%s\n", NB_VERSION);
	printf("host=%s\nport=%d\nconns=%d\nthreads=%d\ndepth=%d\n", opts.host, opts.port,
	       opts.conns, opts.threads, opts.depth);
	printf("get_ratio=%g\nkeys=%" PRIu64 "\nvalue_size=%" PRIu64 "\n", opts.get_ratio,
	       opts.keys, opts.value_size);
	printf("length=%g\nwarmup=%g\nseed=%" PRIu64 "\npopulate=%d\ntimeout=%g\n",
	       opts.duration, opts.warmup, opts.seed, opts.populate, opts.timeout);
	fflush(stdout);
}

static void print_results(struct worker *ws, const struct nb_cpu_use *cpu)
{
	struct nb_hist h;
	uint64_t gets = 0, sets = 0, misses = 0, req, tx = 0, rx = 0;
	double window = t_end - t_warm;
	struct utsname u;
	int i, j;

	nb_hist_init(&h);
	for (i = 0; i < opts.threads; i++) {
		nb_hist_merge(&h, &ws[i].hist);
		gets += ws[i].gets;
		sets += ws[i].sets;
		misses += ws[i].misses;
		for (j = 0; j < ws[i].nconns; j++) {
			tx += ws[i].conns[j].tx_bytes;
			rx += ws[i].conns[j].rx_bytes;
		}
	}
	req = gets + sets;
	if (uname(&u))
		memset(&u, 0, sizeof(u));
	printf("# results\n");
	printf("hostname=%s\nkernel=%s\ncpus=%ld\n", u.nodename, u.release,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("populate_s=%.3f\nwindow_s=%.6f\n", populate_s, window);
	printf("requests=%" PRIu64 "\nrequests_per_s=%.1f\n", req, req / window);
	printf("gets=%" PRIu64 "\nsets=%" PRIu64 "\nget_hits=%" PRIu64 "\nget_misses=%" PRIu64
	       "\n", gets, sets, gets - misses, misses);
	printf("get_share=%.4f\n", req ? (double)gets / (double)req : 0.0);
	printf("tx_bytes=%" PRIu64 "\nrx_bytes=%" PRIu64 "\n", tx, rx);
	printf("latency_count=%" PRIu64 "\n", h.count);
	if (h.count) {
		printf("latency_mean_us=%.3f\nlatency_min_us=%.3f\n", nb_hist_mean(&h) / 1e3,
		       h.min / 1e3);
		printf("latency_p50_us=%.3f\nlatency_p90_us=%.3f\nlatency_p99_us=%.3f\n",
		       nb_hist_percentile(&h, 50) / 1e3, nb_hist_percentile(&h, 90) / 1e3,
		       nb_hist_percentile(&h, 99) / 1e3);
		printf("latency_p999_us=%.3f\nlatency_max_us=%.3f\n",
		       nb_hist_percentile(&h, 99.9) / 1e3, h.max / 1e3);
	}
	printf("cpu_user_s=%.3f\ncpu_sys_s=%.3f\ncpu_proc_cores=%.3f\ncpu_host_busy_cores=%.3f\n",
	       cpu->user_s, cpu->sys_s, cpu->proc_cores, cpu->host_busy_cores);
}

static void setup_workers(struct worker *ws)
{
	size_t cap = (size_t)opts.depth * nb_kv_cmd_len(1, opts.value_size);
	uint64_t seq = opts.seed;
	int i, j, k = 0;

	for (i = 0; i < opts.threads; i++) {
		struct worker *w = &ws[i];

		w->id = i;
		w->nconns = opts.conns / opts.threads + (i < opts.conns % opts.threads);
		w->conns = calloc((size_t)w->nconns, sizeof(*w->conns));
		if (!w->conns)
			die("out of memory");
		nb_hist_init(&w->hist);
		for (j = 0; j < w->nconns; j++, k++) {
			struct conn *c = &w->conns[j];

			c->id = k;
			c->fd = -1;
			c->rng = nb_rng_next(&seq);	/* one stream per connection */
			c->cap = cap;
			c->out = malloc(cap);
			c->sent_at = calloc((size_t)opts.depth, sizeof(*c->sent_at));
			c->is_set = calloc((size_t)opts.depth, 1);
			if (!c->out || !c->sent_at || !c->is_set)
				die("out of memory for %d requests of %zu bytes in flight",
				    opts.depth, nb_kv_cmd_len(1, opts.value_size));
			nb_resp_init(&c->rp);
			c->pop_next = opts.keys * (uint64_t)k / (uint64_t)opts.conns;
			c->pop_end = opts.keys * (uint64_t)(k + 1) / (uint64_t)opts.conns;
		}
	}
}

int main(int argc, char **argv)
{
	struct nb_cpu_snap a, b;
	struct nb_cpu_use cpu;
	struct worker *ws;
	char err[NB_ERRLEN];
	double t_start;
	int rc = nb_kv_parse_args(argc, argv, &opts, err, sizeof(err));
	int i;

	if (rc == 1 && !strcmp(err, "see nckv --help")) {
		nb_kv_usage(stdout);
		return 0;
	}
	if (rc == 1) {
		puts(err);
		return 0;
	}
	if (rc) {
		fprintf(stderr, "nckv: error: %s\n", err);
		return 2;
	}
	resolve();
	value = malloc(opts.value_size);
	ws = calloc((size_t)opts.threads, sizeof(*ws));
	if (!value || !ws)
		die("out of memory for a value of %" PRIu64 " bytes", opts.value_size);
	for (i = 0; i < (int)opts.value_size; i++)
		value[i] = (char)('a' + i % 26);
	setup_workers(ws);
	print_options();
	if (pthread_barrier_init(&barrier, NULL, (unsigned int)opts.threads + 1))
		die("pthread_barrier_init failed");
	t_start = nb_now();
	for (i = 0; i < opts.threads; i++)
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]))
			die("cannot start thread %d", i);
	pthread_barrier_wait(&barrier);
	populate_s = nb_now() - t_start;
	t_warm = nb_now() + opts.warmup;
	t_end = t_warm + opts.duration;
	pthread_barrier_wait(&barrier);
	sleep_until(t_warm);
	nb_cpu_snapshot(&a);
	sleep_until(t_end);
	nb_cpu_snapshot(&b);
	for (i = 0; i < opts.threads; i++)
		pthread_join(ws[i].tid, NULL);
	for (i = 0; i < opts.threads; i++)
		if (ws[i].err[0])
			die("%s", ws[i].err);
	nb_cpu_diff(&a, &b, sysconf(_SC_CLK_TCK), (int)sysconf(_SC_NPROCESSORS_ONLN), &cpu);
	print_results(ws, &cpu);
	return 0;
}
