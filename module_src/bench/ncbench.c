// SPDX-License-Identifier: GPL-2.0
/*
 * ncbench - one benchmark for TCP and NetChannel sockets.
 *
 * A client and a server talk over a plain TCP control connection
 * (settings, start, results) and move data over -F data connections of
 * the chosen protocol, served by -T threads each polling its flows.
 * Workloads: stream (bulk writes), rr (closed-loop request/response) and
 * msgrate (requests with a queue depth).  Output: the options, then
 * key=value results; optionally one JSON record and CSV interval samples.
 * docs/bench-tool.md describes the format.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#ifdef NB_HAVE_URING
#include <liburing.h>
#endif
#include "nb.h"
#include "../include/uapi/linux/netchannel.h"

#define HELLO_MAGIC	0x4e434246u	/* "NCBF": first 8 bytes of a data connection */
#define CTRL_MAGIC	"NCBENCH 1"
#define POLL_MS		50
#define CHUNK		((size_t)1 << 20)	/* largest send() but a stream client's */

enum phase { PH_WARMUP, PH_MEASURE, PH_STOP };

struct flow {
	int fd;
	int id;
	uint64_t tx, rx, msgs;		/* whole run; written by the owner, read by main */
	uint64_t tx0, rx0, msgs0;	/* at the start of the window */
	uint64_t tx1, rx1, msgs1;	/* at its end */
	uint64_t out_off;		/* bytes of the message being written */
	uint64_t in_off;		/* bytes of the message being read */
	uint64_t owed;			/* server: responses still to send */
	int inflight;			/* client: requests without a response */
	double *sent;			/* client: send times of the requests in flight */
	int head, tail;
	int shut;			/* our write side is shut */
	int eof;			/* the peer's write side is shut */
};

struct run;

struct worker {
	struct run *r;
	pthread_t th;
	int idx;
	int cpu;
	int nflows;
	struct flow **flows;
	struct nb_hist hist;
	char err[NB_ERRLEN];
};

struct run {
	struct nb_opts o;
	int server;
	struct flow *flows;
	struct worker *workers;
	int phase;
	int failed;
	int done;		/* workers that have returned */
	double stop_at;		/* monotonic time of the window's end */
	struct nb_cpu_snap cpu0, cpu1;
	struct nb_cpu_use cpu;
	struct nb_hist hist;
	char err[NB_ERRLEN];
};

#define die(...) nb_die("ncbench", __VA_ARGS__)

static void load_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static uint64_t load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static int get_phase(struct run *r)
{
	return __atomic_load_n(&r->phase, __ATOMIC_ACQUIRE);
}

/* ---- control connection: text lines with bounded waits ----------------- */

struct ctrl {
	int fd;
	char buf[4096];
	size_t len;
};

static int ctrl_send(struct ctrl *c, const char *fmt, ...)
{
	char line[8192];
	size_t off = 0;
	ssize_t n;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (len < 0 || (size_t)len >= sizeof(line))
		return -1;
	while (off < (size_t)len) {
		n = send(c->fd, line + off, (size_t)len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* one line without its newline; 0, or -1 with errno (ETIMEDOUT, ECONNRESET) */
static int ctrl_line(struct ctrl *c, char *out, size_t outlen, double timeout)
{
	double deadline = nb_now() + timeout;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	char *nl;
	ssize_t n;
	int ms;

	for (;;) {
		nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			if (l >= outlen)
				l = outlen - 1;
			memcpy(out, c->buf, l);
			out[l] = '\0';
			c->len -= (size_t)(nl - c->buf) + 1;
			memmove(c->buf, nl + 1, c->len);
			return 0;
		}
		if (c->len == sizeof(c->buf)) {
			errno = EMSGSIZE;
			return -1;
		}
		ms = (int)((deadline - nb_now()) * 1000);
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = poll(&p, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n ? errno : ETIMEDOUT;
			return -1;
		}
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n ? errno : ECONNRESET;
			return -1;
		}
		c->len += (size_t)n;
	}
}

/* ---- sockets --------------------------------------------------------------- */

static int resolve(const char *host, int port, struct sockaddr_in *a)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;

	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	if (!*host)
		return 0;	/* INADDR_ANY */
	if (inet_pton(AF_INET, host, &a->sin_addr) == 1)
		return 0;
#ifdef NB_STATIC
	/* static builds (the test VM) take addresses only: no NSS at run time */
	(void)hints;
	(void)res;
	return -1;
#endif
	if (getaddrinfo(host, NULL, &hints, &res))
		return -1;
	a->sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
	freeaddrinfo(res);
	return 0;
}

static void set_timeouts(int fd, double s)
{
	struct timeval tv = {
		.tv_sec = (time_t)s,
		.tv_usec = (suseconds_t)((s - (double)(time_t)s) * 1e6),
	};

	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* the per-socket options of the test; a refused option is an error */
static int data_sockopts(int fd, const struct nb_opts *o, char *err, size_t len)
{
	int one = 1;

	if (o->priority >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &o->priority, sizeof(int))) {
		snprintf(err, len, "SO_PRIORITY %d: %s", o->priority, strerror(errno));
		return -1;
	}
	if (o->sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(int))) {
		snprintf(err, len, "SO_SNDBUF %d: %s", o->sndbuf, strerror(errno));
		return -1;
	}
	if (o->rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(int))) {
		snprintf(err, len, "SO_RCVBUF %d: %s", o->rcvbuf, strerror(errno));
		return -1;
	}
	if (o->nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one))) {
		snprintf(err, len, "TCP_NODELAY: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static const char *proto_hint(const struct nb_opts *o, int e)
{
	if (o->proto == NB_PROTO_NETCHANNEL &&
	    (e == EPROTONOSUPPORT || e == EAFNOSUPPORT || e == ESOCKTNOSUPPORT))
		return " (is the netchannel module loaded?)";
	return "";
}

static int listen_on(const char *host, int port, int proto_nc, int backlog,
		     int rcvbuf, char *err, size_t len)
{
	struct sockaddr_in a;
	int fd, one = 1;

	if (resolve(host, port, &a)) {
		snprintf(err, len, "cannot resolve '%.200s'", host);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM, proto_nc ? IPPROTO_VIRTUAL_SOCK : 0);
	if (fd < 0) {
		snprintf(err, len, "%s socket: %s%s", proto_nc ? "netchannel" : "tcp",
			 strerror(errno), proto_nc ? " (is the netchannel module loaded?)" : "");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (rcvbuf)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, backlog)) {
		snprintf(err, len, "listen on %s:%d (%s): %s", *host ? host : "0.0.0.0", port,
			 proto_nc ? "netchannel" : "tcp", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int read_full(int fd, void *buf, size_t n, double timeout)
{
	double deadline = nb_now() + timeout;
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t off = 0;
	ssize_t k;
	int ms;

	while (off < n) {
		ms = (int)((deadline - nb_now()) * 1000);
		if (ms <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		k = poll(&p, 1, ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			errno = k ? errno : ETIMEDOUT;
			return -1;
		}
		k = recv(fd, (char *)buf + off, n - off, 0);
		if (k < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (k <= 0) {
			errno = k ? errno : ECONNRESET;
			return -1;
		}
		off += (size_t)k;
	}
	return 0;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* ---- the data path ------------------------------------------------------- */

static void worker_fail(struct run *r, struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
	__atomic_store_n(&r->failed, 1, __ATOMIC_RELEASE);
}

static const char *peer_name(struct run *r)
{
	return r->server ? "client" : "server";
}

/* what this flow wants to write now */
static int wants_write(struct run *r, struct flow *f, int ph)
{
	const struct nb_opts *o = &r->o;

	if (f->shut)
		return 0;
	if (r->server)
		return o->workload != NB_WL_STREAM && (f->owed || f->out_off);
	if (f->out_off)
		return 1;	/* finish the message started */
	if (ph == PH_STOP)
		return 0;
	return o->workload == NB_WL_STREAM || f->inflight < o->depth;
}

/* the client is done with a flow: nothing more to send or wait for */
static int client_drained(struct run *r, struct flow *f)
{
	return !f->out_off && (r->o.workload == NB_WL_STREAM || !f->inflight);
}

static uint64_t out_msg(struct run *r)
{
	const struct nb_opts *o = &r->o;

	return o->workload == NB_WL_STREAM ? o->write_size :
	       r->server ? o->resp_size : o->req_size;
}

/* bytes for the next send() of f */
static size_t write_len(struct run *r, struct flow *f, size_t blen)
{
	uint64_t left = out_msg(r) - f->out_off;

	return left < blen ? (size_t)left : blen;
}

/* a new request starts with this send (it is timed from here) */
static int starts_request(struct run *r, struct flow *f)
{
	return !r->server && r->o.workload != NB_WL_STREAM && !f->out_off;
}

/* account a send() that returned n (or -1 with errno err) */
static int wrote(struct run *r, struct worker *w, struct flow *f, ssize_t n, int err,
		 int request, double t)
{
	const struct nb_opts *o = &r->o;
	uint64_t msg = out_msg(r);

	if (n < 0) {
		if (err == EAGAIN || err == EINTR)
			return 0;
		worker_fail(r, w, "flow %d: send: %s (the %s went away?)", f->id,
			    strerror(err), peer_name(r));
		return -1;
	}
	if (request && n > 0) {	/* a new request is on its way: time it from here */
		f->sent[f->head] = t;
		f->head = (f->head + 1) % o->depth;
		f->inflight++;
	}
	load_add(&f->tx, (uint64_t)n);
	f->out_off += (uint64_t)n;
	if (f->out_off == msg) {
		f->out_off = 0;
		if (r->server && o->workload != NB_WL_STREAM)
			f->owed--;
	}
	return 0;
}

static int do_write(struct run *r, struct worker *w, struct flow *f, const char *buf,
		    size_t blen)
{
	int request = starts_request(r, f);
	double t = request ? nb_now() : 0;
	ssize_t n;

	n = send(f->fd, buf, write_len(r, f, blen), MSG_NOSIGNAL);
	return wrote(r, w, f, n, errno, request, t);
}

/* account a recv() that returned n (or -1 with errno err) */
static int got(struct run *r, struct worker *w, struct flow *f, ssize_t n, int err, int ph)
{
	const struct nb_opts *o = &r->o;
	uint64_t msg = r->server ? o->req_size : o->resp_size;
	double t;

	if (n < 0) {
		if (err == EAGAIN || err == EINTR)
			return 0;
		worker_fail(r, w, "flow %d: recv: %s (the %s went away?)", f->id,
			    strerror(err), peer_name(r));
		return -1;
	}
	if (n == 0) {
		f->eof = 1;
		if (r->server)
			return 0;	/* the client finished sending */
		if (!f->shut) {
			worker_fail(r, w, "flow %d: the server closed the connection during the run",
				    f->id);
			return -1;
		}
		return 0;
	}
	load_add(&f->rx, (uint64_t)n);
	if (o->workload == NB_WL_STREAM) {
		if (!r->server) {
			worker_fail(r, w, "flow %d: unexpected data from the server", f->id);
			return -1;
		}
		return 0;
	}
	f->in_off += (uint64_t)n;
	if (r->server) {
		f->owed += f->in_off / msg;
		load_add(&f->msgs, f->in_off / msg);
		f->in_off %= msg;
		return 0;
	}
	t = nb_now();
	while (f->in_off >= msg) {
		if (!f->inflight) {
			worker_fail(r, w, "flow %d: a response without a request", f->id);
			return -1;
		}
		f->in_off -= msg;
		if (ph == PH_MEASURE) {
			double d = (t - f->sent[f->tail]) * 1e9;

			nb_hist_add(&w->hist, d > 0 ? (uint64_t)d : 0);
		}
		f->tail = (f->tail + 1) % o->depth;
		f->inflight--;
		load_add(&f->msgs, 1);
	}
	return 0;
}

static int do_read(struct run *r, struct worker *w, struct flow *f, char *buf,
		   size_t len, int ph)
{
	ssize_t n = recv(f->fd, buf, len, 0);

	return got(r, w, f, n, errno, ph);
}

/* what the live flows of w are waiting for, for the "did not finish" error */
static void unfinished(struct run *r, struct worker *w, char *buf, size_t len)
{
	int i;

	buf[0] = '\0';
	for (i = 0; i < w->nflows; i++) {
		struct flow *f = w->flows[i];

		if (f->eof && f->shut)
			continue;
		if (nb_flow_state(buf, len, f->id, load(&f->tx), load(&f->rx),
				  f->out_off ? out_msg(r) - f->out_off : 0, f->shut, f->eof))
			break;
	}
}

/* shut our write side when this end has nothing more to send */
static void maybe_shut(struct run *r, struct flow *f, int ph, int busy)
{
	if (f->shut || busy)
		return;
	if ((!r->server && ph == PH_STOP && client_drained(r, f)) ||
	    (r->server && f->eof && !wants_write(r, f, ph))) {
		shutdown(f->fd, SHUT_WR);
		f->shut = 1;
	}
}

#ifdef NB_HAVE_URING
/*
 * The same state machine on io_uring: at most one recv and one send in
 * flight per flow, completions accounted as the poll loop accounts
 * recv()/send() results.  user_data: flow index * 2 (+1 for a send).
 */
static void uring_loop(struct run *r, struct worker *w, char *rbuf, size_t rlen,
		       const char *wbuf, size_t wlen)
{
	const struct nb_opts *o = &r->o;
	struct __kernel_timespec ts = { .tv_nsec = POLL_MS * 1000000L };
	char *rpend = calloc((size_t)w->nflows, 2);
	double *wt = calloc((size_t)w->nflows, sizeof(double));
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	char detail[NB_ERRLEN - 128];
	int i, live, ph, err, pending = 0;

	if (!rpend || !wt) {
		worker_fail(r, w, "thread %d: out of memory", w->idx);
		goto free;
	}
	/* blocking sockets: io_uring then waits for them instead of failing with EAGAIN */
	for (i = 0; i < w->nflows; i++)
		fcntl(w->flows[i]->fd, F_SETFL, fcntl(w->flows[i]->fd, F_GETFL) & ~O_NONBLOCK);
	err = io_uring_queue_init((unsigned int)(2 * w->nflows + 2), &ring, 0);
	if (err) {
		worker_fail(r, w, "thread %d: io_uring: %s", w->idx, strerror(-err));
		goto free;
	}
	for (;;) {
		ph = get_phase(r);
		if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE))
			break;
		live = 0;
		for (i = 0; i < w->nflows; i++) {
			struct flow *f = w->flows[i];
			char *rp = &rpend[2 * i], *wp = &rpend[2 * i + 1];

			maybe_shut(r, f, ph, *wp);
			if (f->eof && f->shut && !*rp && !*wp)
				continue;
			live++;
			if (!f->eof && !*rp) {
				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_recv(sqe, f->fd, rbuf, rlen, 0);
				io_uring_sqe_set_data64(sqe, (uint64_t)i * 2);
				*rp = 1;
				pending++;
			}
			if (!*wp && wants_write(r, f, ph)) {
				wp[0] = starts_request(r, f) ? 2 : 1;
				wt[i] = wp[0] == 2 ? nb_now() : 0;
				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_send(sqe, f->fd, wbuf, write_len(r, f, wlen),
						   MSG_NOSIGNAL);
				io_uring_sqe_set_data64(sqe, (uint64_t)i * 2 + 1);
				pending++;
			}
		}
		if (!live)
			break;
		if (ph == PH_STOP && nb_now() > r->stop_at + o->timeout) {
			unfinished(r, w, detail, sizeof(detail));
			worker_fail(r, w, "%d flow(s) of thread %d did not finish within --timeout %g s after the run (%s)",
				    live, w->idx, o->timeout, detail);
			break;
		}
		err = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		if (err < 0 && err != -ETIME && err != -EINTR) {
			worker_fail(r, w, "io_uring wait: %s", strerror(-err));
			break;
		}
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			uint64_t d = io_uring_cqe_get_data64(cqe);
			struct flow *f = w->flows[d / 2];
			int res = cqe->res, bad;

			io_uring_cqe_seen(&ring, cqe);
			pending--;
			if (d % 2) {
				int request = rpend[d] == 2;

				rpend[d] = 0;
				bad = wrote(r, w, f, res < 0 ? -1 : res, -res, request, wt[d / 2]);
			} else {
				rpend[d] = 0;
				bad = got(r, w, f, res < 0 ? -1 : res, -res, ph);
			}
			if (bad)
				goto stop;
		}
	}
stop:
	/* on failure: end what is still in flight before the buffers go */
	for (i = 0; pending && i < w->nflows; i++)
		shutdown(w->flows[i]->fd, SHUT_RDWR);
	for (i = 0; pending > 0 && i < 100; i++) {
		if (io_uring_wait_cqe_timeout(&ring, &cqe, &ts) == 0) {
			io_uring_cqe_seen(&ring, cqe);
			pending--;
		}
	}
	io_uring_queue_exit(&ring);
free:
	free(rpend);
	free(wt);
}
#endif

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	const struct nb_opts *o = &r->o;
	struct pollfd *pfd;
	size_t rlen, wlen;
	char *rbuf, *wbuf, detail[NB_ERRLEN - 128];
	int i, live, ph;

	if (w->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(w->cpu, &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
			worker_fail(r, w, "thread %d: cannot pin to CPU %d", w->idx, w->cpu);
			return NULL;
		}
	}
	/*
	 * A stream client writes -B bytes per send() as asked.  Everything
	 * else goes in chunks of at most 1 MiB, so a client cannot make the
	 * server allocate what the settings allow (64 MiB messages).
	 */
	if (o->workload == NB_WL_STREAM)
		wlen = r->server ? 1 : o->write_size;
	else
		wlen = r->server ? o->resp_size : o->req_size;
	if (wlen > CHUNK && !(o->workload == NB_WL_STREAM && !r->server))
		wlen = CHUNK;
	rlen = o->workload == NB_WL_STREAM ? o->write_size :
	       r->server ? o->req_size : o->resp_size;
	if (rlen > 4 * CHUNK)
		rlen = 4 * CHUNK;
	if (rlen < 65536)
		rlen = 65536;
	rbuf = malloc(rlen);
	wbuf = malloc(wlen);
	pfd = calloc((size_t)w->nflows, sizeof(*pfd));
	if (!rbuf || !wbuf || !pfd) {
		worker_fail(r, w, "thread %d: out of memory", w->idx);
		goto out;
	}
	for (i = 0; (size_t)i < wlen; i++)
		wbuf[i] = (char)('a' + i % 26);
#ifdef NB_HAVE_URING
	if (o->uring) {
		uring_loop(r, w, rbuf, rlen, wbuf, wlen);
		goto out;
	}
#endif

	for (;;) {
		ph = get_phase(r);
		if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE))
			break;
		live = 0;
		for (i = 0; i < w->nflows; i++) {
			struct flow *f = w->flows[i];

			pfd[i].fd = -1;
			pfd[i].events = 0;
			maybe_shut(r, f, ph, 0);
			if (f->eof && f->shut)
				continue;
			live++;
			pfd[i].fd = f->fd;
			if (!f->eof)
				pfd[i].events |= POLLIN;
			if (wants_write(r, f, ph))
				pfd[i].events |= POLLOUT;
		}
		if (!live)
			break;
		if (ph == PH_STOP && nb_now() > r->stop_at + o->timeout) {
			unfinished(r, w, detail, sizeof(detail));
			worker_fail(r, w, "%d flow(s) of thread %d did not finish within --timeout %g s after the run (%s)",
				    live, w->idx, o->timeout, detail);
			break;
		}
		if (poll(pfd, (nfds_t)w->nflows, POLL_MS) < 0) {
			if (errno == EINTR)
				continue;
			worker_fail(r, w, "poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < w->nflows; i++) {
			struct flow *f = w->flows[i];

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if ((pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) && !f->eof &&
			    do_read(r, w, f, rbuf, rlen, ph))
				goto out;
			if ((pfd[i].revents & POLLOUT) && wants_write(r, f, ph) &&
			    do_write(r, w, f, wbuf, wlen))
				goto out;
			if ((pfd[i].revents & POLLERR) && !(pfd[i].events & POLLIN) &&
			    f->shut == 0) {
				worker_fail(r, w, "flow %d: socket error (the %s went away?)",
					    f->id, peer_name(r));
				goto out;
			}
		}
	}
out:
	free(rbuf);
	free(wbuf);
	free(pfd);
	__atomic_fetch_add(&r->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- one run: threads, window, CPU -------------------------------------- */

static void snap_counters(struct run *r, int end)
{
	int i;

	for (i = 0; i < r->o.flows; i++) {
		struct flow *f = &r->flows[i];

		if (end) {
			f->tx1 = load(&f->tx);
			f->rx1 = load(&f->rx);
			f->msgs1 = load(&f->msgs);
		} else {
			f->tx0 = load(&f->tx);
			f->rx0 = load(&f->rx);
			f->msgs0 = load(&f->msgs);
		}
	}
}

static void totals(struct run *r, uint64_t *tx, uint64_t *rx, uint64_t *msgs)
{
	int i;

	*tx = *rx = *msgs = 0;
	for (i = 0; i < r->o.flows; i++) {
		*tx += load(&r->flows[i].tx);
		*rx += load(&r->flows[i].rx);
		*msgs += load(&r->flows[i].msgs);
	}
}

static int start_workers(struct run *r)
{
	const struct nb_opts *o = &r->o;
	int i, t;

	r->workers = calloc((size_t)o->threads, sizeof(*r->workers));
	if (!r->workers)
		return -1;
	for (t = 0; t < o->threads; t++) {
		struct worker *w = &r->workers[t];

		w->r = r;
		w->idx = t;
		w->cpu = o->ncpus ? o->cpus[t % o->ncpus] : -1;
		w->flows = calloc((size_t)o->flows, sizeof(*w->flows));
		if (!w->flows)
			return -1;
		nb_hist_init(&w->hist);
		for (i = t; i < o->flows; i += o->threads)
			w->flows[w->nflows++] = &r->flows[i];
	}
	for (t = 0; t < o->threads; t++)
		if (pthread_create(&r->workers[t].th, NULL, worker_main, &r->workers[t]))
			die("cannot start thread %d: %s", t, strerror(errno));
	return 0;
}

static void sleep_until(double t)
{
	double d = t - nb_now();
	struct timespec ts;

	if (d <= 0)
		return;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

/*
 * Warm-up, measured window, stop, then wait for the workers (each bounded
 * by --timeout after the window).  Interval samples go to csv if set.
 * c: the control connection; on the client, input on it (an error from
 * the server, or its end) cuts the run short.  On the server the window
 * also ends when the client has closed every flow.
 */
static void run_window(struct run *r, FILE *csv, struct ctrl *c)
{
	int abort_fd = c->fd;
	char line[NB_ERRLEN];
	const struct nb_opts *o = &r->o;
	double t0 = nb_now(), t, next, last_t;
	uint64_t tx, rx, msgs, ltx = 0, lrx = 0, lmsgs = 0;
	struct pollfd p = { .fd = r->server ? -1 : abort_fd, .events = POLLIN };
	int ph = PH_WARMUP, t_i;

	nb_cpu_snapshot(&r->cpu0);
	r->stop_at = t0 + o->warmup + o->duration;
	next = o->interval > 0 ? t0 + o->interval : 1e300;
	last_t = t0;
	if (csv)
		fputs("time_s,phase,interval_s,tx_bytes,rx_bytes,transactions,throughput_bps\n",
		      csv);
	if (o->warmup <= 0) {
		snap_counters(r, 0);
		nb_cpu_snapshot(&r->cpu0);
		ph = PH_MEASURE;
		__atomic_store_n(&r->phase, ph, __ATOMIC_RELEASE);
	}
	while (ph != PH_STOP) {
		t = nb_now();
		if (ph == PH_WARMUP && t >= t0 + o->warmup) {
			snap_counters(r, 0);
			nb_cpu_snapshot(&r->cpu0);
			ph = PH_MEASURE;
			__atomic_store_n(&r->phase, ph, __ATOMIC_RELEASE);
		}
		if (t >= r->stop_at) {
			snap_counters(r, 1);
			nb_cpu_snapshot(&r->cpu1);
			ph = PH_STOP;
			__atomic_store_n(&r->phase, ph, __ATOMIC_RELEASE);
		}
		if (csv && t >= next) {
			totals(r, &tx, &rx, &msgs);
			/* the phase the interval started in */
			fprintf(csv, "%.3f,%s,%.3f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%.0f\n",
				t - t0, last_t < t0 + o->warmup ? "warmup" : "measure", t - last_t,
				tx - ltx, rx - lrx, msgs - lmsgs,
				(double)(tx - ltx + rx - lrx) * 8 / (t - last_t));
			fflush(csv);
			ltx = tx;
			lrx = rx;
			lmsgs = msgs;
			last_t = t;
			next += o->interval;
		}
		if (__atomic_load_n(&r->failed, __ATOMIC_ACQUIRE))
			break;
		if (__atomic_load_n(&r->done, __ATOMIC_ACQUIRE) == o->threads) {
			/* server: the client has closed every flow, its window is over */
			snap_counters(r, 1);
			nb_cpu_snapshot(&r->cpu1);
			ph = PH_STOP;
			r->stop_at = nb_now();
			__atomic_store_n(&r->phase, ph, __ATOMIC_RELEASE);
			break;
		}
		if (p.fd >= 0 && poll(&p, 1, 0) > 0) {
			/* the other side never speaks during a run unless it failed */
			if (ctrl_line(c, line, sizeof(line), o->timeout))
				snprintf(r->err, sizeof(r->err),
					 "the %s ended the control connection during the run",
					 peer_name(r));
			else if (!strncmp(line, "ERR ", 4))
				snprintf(r->err, sizeof(r->err),
					 "%s: %.200s", peer_name(r), line + 4);
			else
				snprintf(r->err, sizeof(r->err),
					 "unexpected control message '%.100s' during the run",
					 line);
			__atomic_store_n(&r->failed, 1, __ATOMIC_RELEASE);
			break;
		}
		t = nb_now() + 0.02;
		if (t > next)
			t = next;
		if (t > r->stop_at && ph != PH_STOP)
			t = r->stop_at;
		sleep_until(t);
	}
	if (ph != PH_STOP) {	/* failed: stop everything now */
		snap_counters(r, 1);
		nb_cpu_snapshot(&r->cpu1);
		r->stop_at = nb_now();
		__atomic_store_n(&r->phase, PH_STOP, __ATOMIC_RELEASE);
	}
	for (t_i = 0; t_i < o->threads; t_i++) {
		pthread_join(r->workers[t_i].th, NULL);
		nb_hist_merge(&r->hist, &r->workers[t_i].hist);
		if (!r->err[0] && r->workers[t_i].err[0])
			memcpy(r->err, r->workers[t_i].err, sizeof(r->err));
	}
	if (r->failed && !r->err[0])
		snprintf(r->err, sizeof(r->err), "the run failed");
	nb_cpu_diff(&r->cpu0, &r->cpu1, sysconf(_SC_CLK_TCK),
		    (int)sysconf(_SC_NPROCESSORS_ONLN), &r->cpu);
}

static void free_run(struct run *r)
{
	int i;

	for (i = 0; r->flows && i < r->o.flows; i++) {
		if (r->flows[i].fd >= 0)
			close(r->flows[i].fd);
		free(r->flows[i].sent);
	}
	for (i = 0; r->workers && i < r->o.threads; i++)
		free(r->workers[i].flows);
	free(r->flows);
	free(r->workers);
	r->flows = NULL;
	r->workers = NULL;
}

static int alloc_flows(struct run *r)
{
	int i;

	r->flows = calloc((size_t)r->o.flows, sizeof(*r->flows));
	if (!r->flows)
		return -1;
	for (i = 0; i < r->o.flows; i++) {
		r->flows[i].fd = -1;
		r->flows[i].id = i;
		r->flows[i].sent = calloc((size_t)r->o.depth, sizeof(double));
		if (!r->flows[i].sent)
			return -1;
	}
	nb_hist_init(&r->hist);
	return 0;
}

/* ---- results ---------------------------------------------------------------- */

struct kv {
	char **k, **v;
	int n, cap;
};

static void kv_add(struct kv *kv, const char *key, const char *fmt, ...)
{
	char val[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	if (kv->n == kv->cap) {
		kv->cap = kv->cap ? 2 * kv->cap : 64;
		kv->k = realloc(kv->k, (size_t)kv->cap * sizeof(char *));
		kv->v = realloc(kv->v, (size_t)kv->cap * sizeof(char *));
		if (!kv->k || !kv->v)
			die("out of memory");
	}
	kv->k[kv->n] = strdup(key);
	kv->v[kv->n] = strdup(val);
	if (!kv->k[kv->n] || !kv->v[kv->n])
		die("out of memory");
	kv->n++;
}

static const char *kv_get(const struct kv *kv, const char *key)
{
	int i;

	for (i = 0; i < kv->n; i++)
		if (!strcmp(kv->k[i], key))
			return kv->v[i];
	return NULL;
}

static void kv_free(struct kv *kv)
{
	int i;

	for (i = 0; i < kv->n; i++) {
		free(kv->k[i]);
		free(kv->v[i]);
	}
	free(kv->k);
	free(kv->v);
	memset(kv, 0, sizeof(*kv));
}

static void host_info(struct kv *kv, const char *prefix)
{
	struct utsname u;
	char k[64];

	if (uname(&u))
		memset(&u, 0, sizeof(u));
	snprintf(k, sizeof(k), "%shostname", prefix);
	kv_add(kv, k, "%s", u.nodename);
	snprintf(k, sizeof(k), "%skernel", prefix);
	kv_add(kv, k, "%s", u.release);
	snprintf(k, sizeof(k), "%scpus", prefix);
	kv_add(kv, k, "%ld", sysconf(_SC_NPROCESSORS_ONLN));
}

/* this side's results as key=value pairs (the server sends the same to the client) */
static void local_results(struct run *r, struct kv *kv)
{
	const struct nb_opts *o = &r->o;
	double win = r->cpu.window_s > 0 ? r->cpu.window_s : 1e-9;	/* no 0/0 */
	uint64_t tx = 0, rx = 0, wtx = 0, wrx = 0, wmsgs = 0;
	char k[64];
	int i;

	kv_add(kv, "window_s", "%.6f", r->cpu.window_s);
	for (i = 0; i < o->flows; i++) {
		struct flow *f = &r->flows[i];
		uint64_t ftx = f->tx1 - f->tx0, frx = f->rx1 - f->rx0;

		snprintf(k, sizeof(k), "flow%d_tx_bytes", i);
		kv_add(kv, k, "%" PRIu64, f->tx);
		snprintf(k, sizeof(k), "flow%d_rx_bytes", i);
		kv_add(kv, k, "%" PRIu64, f->rx);
		snprintf(k, sizeof(k), "flow%d_window_tx_bytes", i);
		kv_add(kv, k, "%" PRIu64, ftx);
		snprintf(k, sizeof(k), "flow%d_window_rx_bytes", i);
		kv_add(kv, k, "%" PRIu64, frx);
		snprintf(k, sizeof(k), "flow%d_throughput_bps", i);
		kv_add(kv, k, "%.0f", (double)(ftx + frx) * 8 / win);
		if (o->workload != NB_WL_STREAM) {
			snprintf(k, sizeof(k), "flow%d_transactions", i);
			kv_add(kv, k, "%" PRIu64, f->msgs1 - f->msgs0);
		}
		tx += f->tx;
		rx += f->rx;
		wtx += ftx;
		wrx += frx;
		wmsgs += f->msgs1 - f->msgs0;
	}
	kv_add(kv, "tx_bytes", "%" PRIu64, tx);
	kv_add(kv, "rx_bytes", "%" PRIu64, rx);
	kv_add(kv, "window_tx_bytes", "%" PRIu64, wtx);
	kv_add(kv, "window_rx_bytes", "%" PRIu64, wrx);
	kv_add(kv, "throughput_bps", "%.0f", (double)(wtx + wrx) * 8 / win);
	kv_add(kv, "throughput_gbps", "%.6f", (double)(wtx + wrx) * 8 / win / 1e9);
	if (o->workload != NB_WL_STREAM) {
		kv_add(kv, "transactions", "%" PRIu64, wmsgs);
		kv_add(kv, "transactions_per_s", "%.1f", (double)wmsgs / win);
	}
	if (!r->server && o->workload != NB_WL_STREAM) {
		static const double pct[] = { 50, 90, 99, 99.9 };
		static const char *const pname[] = { "p50", "p90", "p99", "p999" };

		kv_add(kv, "latency_count", "%" PRIu64, r->hist.count);
		kv_add(kv, "latency_mean_us", "%.3f", nb_hist_mean(&r->hist) / 1e3);
		kv_add(kv, "latency_min_us", "%.3f",
		       r->hist.count ? (double)r->hist.min / 1e3 : 0.0);
		for (i = 0; i < 4; i++) {
			snprintf(k, sizeof(k), "latency_%s_us", pname[i]);
			kv_add(kv, k, "%.3f", (double)nb_hist_percentile(&r->hist, pct[i]) / 1e3);
		}
		kv_add(kv, "latency_max_us", "%.3f", (double)r->hist.max / 1e3);
	}
	kv_add(kv, "cpu_user_s", "%.3f", r->cpu.user_s);
	kv_add(kv, "cpu_sys_s", "%.3f", r->cpu.sys_s);
	kv_add(kv, "cpu_proc_cores", "%.3f", r->cpu.proc_cores);
	kv_add(kv, "cpu_host_busy_cores", "%.3f", r->cpu.host_busy_cores);
	kv_add(kv, "cpu_host_util", "%.4f", r->cpu.host_util);
	kv_add(kv, "cpu_host_cpus", "%d", r->cpu.host_cpus);
}

static void options_kv(const struct run *r, struct kv *kv)
{
	const struct nb_opts *o = &r->o;
	char buf[2048], *line, *save = NULL, *eq;

	kv_add(kv, "ncbench_version", "%s", NB_VERSION);
	kv_add(kv, "role", "%s", nb_role_name(o->role));
	kv_add(kv, "host", "%s", o->host[0] ? o->host : "0.0.0.0");
	kv_add(kv, "control_port", "%d", o->ctrl_port);
	if (nb_settings_format(o, buf, sizeof(buf)) < 0)
		die("settings too long");
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		eq = strchr(line, '=');
		*eq = '\0';
		kv_add(kv, line, "%s", eq + 1);
	}
	kv_add(kv, "pin_cpus", "%s", o->cpus_str[0] ? o->cpus_str : "none");
	kv_add(kv, "interval", "%.6g", o->interval);
	kv_add(kv, "json", "%s", o->json[0] ? o->json : "none");
}

static void print_kv(const struct kv *kv)
{
	int i;

	for (i = 0; i < kv->n; i++)
		printf("%s=%s\n", kv->k[i], kv->v[i]);
	fflush(stdout);
}

static void json_section(struct nb_json *j, const char *name, const struct kv *kv,
			 const char *prefix, int flows_too)
{
	size_t pl = strlen(prefix);
	int i;

	nb_json_obj_begin(j, name);
	for (i = 0; i < kv->n; i++) {
		const char *k = kv->k[i];

		if (strncmp(k, prefix, pl))
			continue;
		k += pl;
		if (!flows_too && !strncmp(k, "flow", 4) && k[4] >= '0' && k[4] <= '9')
			continue;
		nb_json_auto(j, k, kv->v[i]);
	}
	nb_json_obj_end(j);
}

static void json_flows(struct nb_json *j, const struct kv *kv, const char *prefix, int flows)
{
	char p[64];
	size_t pl;
	int f, i;

	nb_json_arr_begin(j, "flows");
	for (f = 0; f < flows; f++) {
		snprintf(p, sizeof(p), "%sflow%d_", prefix, f);
		pl = strlen(p);
		nb_json_obj_begin(j, NULL);
		nb_json_int(j, "id", f);
		for (i = 0; i < kv->n; i++)
			if (!strncmp(kv->k[i], p, pl))
				nb_json_auto(j, kv->k[i] + pl, kv->v[i]);
		nb_json_obj_end(j);
	}
	nb_json_arr_end(j);
}

static void write_json(const struct run *r, const struct kv *opts, const struct kv *res,
		       const struct kv *remote)
{
	struct nb_json j;
	char stamp[64];
	time_t t = time(NULL);
	struct tm tm;
	FILE *f;
	int i;

	f = strcmp(r->o.json, "-") ? fopen(r->o.json, "w") : stdout;
	if (!f)
		die("--json %s: %s", r->o.json, strerror(errno));
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	nb_json_init(&j, f);
	nb_json_obj_begin(&j, NULL);
	nb_json_str(&j, "tool", "ncbench");
	nb_json_str(&j, "version", NB_VERSION);
	nb_json_str(&j, "time", stamp);
	nb_json_str(&j, "role", nb_role_name(r->o.role));
	nb_json_obj_begin(&j, "host");
	nb_json_str(&j, "hostname", kv_get(res, "hostname"));
	nb_json_str(&j, "kernel", kv_get(res, "kernel"));
	nb_json_auto(&j, "cpus", kv_get(res, "cpus"));
	nb_json_obj_end(&j);
	nb_json_obj_begin(&j, "settings");
	for (i = 0; i < opts->n; i++)
		if (strcmp(opts->k[i], "ncbench_version") && strcmp(opts->k[i], "role"))
			nb_json_auto(&j, opts->k[i], opts->v[i]);
	nb_json_obj_end(&j);
	nb_json_str(&j, "workload", nb_workload_name(r->o.workload));
	nb_json_str(&j, "protocol", nb_proto_name(r->o.proto));
	json_flows(&j, res, "", r->o.flows);
	nb_json_obj_begin(&j, "total");
	for (i = 0; i < res->n; i++) {
		const char *k = res->k[i];

		if (!strncmp(k, "flow", 4) || !strncmp(k, "latency_", 8) ||
		    !strncmp(k, "cpu_", 4) || !strcmp(k, "hostname") ||
		    !strcmp(k, "kernel") || !strcmp(k, "cpus") ||
		    !strncmp(k, "remote_", 7))
			continue;
		nb_json_auto(&j, k, res->v[i]);
	}
	nb_json_obj_end(&j);
	if (kv_get(res, "latency_count"))
		json_section(&j, "latency", res, "latency_", 0);
	nb_json_obj_begin(&j, "cpu");
	json_section(&j, "local", res, "cpu_", 0);
	if (remote)
		json_section(&j, "remote", remote, "cpu_", 0);
	nb_json_obj_end(&j);
	if (remote) {
		nb_json_obj_begin(&j, "remote");
		nb_json_obj_begin(&j, "host");
		nb_json_str(&j, "hostname", kv_get(remote, "hostname"));
		nb_json_str(&j, "kernel", kv_get(remote, "kernel"));
		nb_json_auto(&j, "cpus", kv_get(remote, "cpus"));
		nb_json_obj_end(&j);
		json_flows(&j, remote, "", r->o.flows);
		nb_json_obj_begin(&j, "total");
		for (i = 0; i < remote->n; i++) {
			const char *k = remote->k[i];

			if (!strncmp(k, "flow", 4) || !strncmp(k, "cpu_", 4) ||
			    !strcmp(k, "hostname") || !strcmp(k, "kernel") || !strcmp(k, "cpus"))
				continue;
			nb_json_auto(&j, k, remote->v[i]);
		}
		nb_json_obj_end(&j);
		nb_json_obj_end(&j);
	}
	nb_json_obj_end(&j);
	if (nb_json_finish(&j))
		die("--json %s: write failed", r->o.json);
	if (f != stdout)
		fclose(f);
}

/* ---- server ---------------------------------------------------------------- */

static int serve_fail(struct ctrl *c, char *err)
{
	ctrl_send(c, "ERR %s\n", err);
	fprintf(stderr, "ncbench: error: %s\n", err);
	return -1;
}

static int accept_flows(struct run *r, int lfd, char *err, size_t len)
{
	double deadline = nb_now() + r->o.timeout;
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	uint32_t hello[2];
	int got = 0, fd, ms, id;

	while (got < r->o.flows) {
		ms = (int)((deadline - nb_now()) * 1000);
		if (ms <= 0 || poll(&p, 1, ms) <= 0) {
			snprintf(err, len,
				 "%d of %d data connections arrived within --timeout %g s",
				 got, r->o.flows, r->o.timeout);
			return -1;
		}
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (read_full(fd, hello, sizeof(hello), deadline - nb_now()) ||
		    ntohl(hello[0]) != HELLO_MAGIC) {
			close(fd);
			snprintf(err, len, "a data connection sent no ncbench hello");
			return -1;
		}
		id = (int)ntohl(hello[1]);
		if (id < 0 || id >= r->o.flows || r->flows[id].fd >= 0) {
			close(fd);
			snprintf(err, len,
				 "a data connection claims flow %d (want 0..%d, once each)",
				 id, r->o.flows - 1);
			return -1;
		}
		if (data_sockopts(fd, &r->o, err, len)) {
			close(fd);
			return -1;
		}
		set_nonblock(fd);
		r->flows[id].fd = fd;
		got++;
	}
	return 0;
}

static int serve_one(const struct nb_opts *base, int cfd)
{
	struct ctrl c = { .fd = cfd };
	struct kv opts = { 0 }, res = { 0 };
	char line[1024], err[NB_ERRLEN], *eq;
	struct run r;
	int lfd, i, rc = -1;

	memset(&r, 0, sizeof(r));
	r.o = *base;
	r.server = 1;
	set_timeouts(cfd, base->timeout);
	if (ctrl_line(&c, line, sizeof(line), base->timeout) || strcmp(line, CTRL_MAGIC)) {
		fprintf(stderr,
			"ncbench: error: control connection: not an ncbench client (or it said nothing within %g s)\n",
			base->timeout);
		return -1;
	}
	for (;;) {
		if (ctrl_line(&c, line, sizeof(line), base->timeout)) {
			snprintf(err, sizeof(err),
				 "control connection: settings incomplete: %s", strerror(errno));
			return serve_fail(&c, err);
		}
		if (!strcmp(line, "END"))
			break;
		eq = strchr(line, '=');
		if (!eq) {
			snprintf(err, sizeof(err),
				 "control connection: bad settings line '%.100s'", line);
			return serve_fail(&c, err);
		}
		*eq = '\0';
		if (nb_settings_apply(&r.o, line, eq + 1, err, sizeof(err)))
			return serve_fail(&c, err);
	}
	if (r.o.threads > r.o.flows) {
		snprintf(err, sizeof(err), "setting threads %d > flows %d", r.o.threads, r.o.flows);
		return serve_fail(&c, err);
	}
	if (r.o.workload == NB_WL_RR)
		r.o.depth = 1;
#ifndef NB_HAVE_URING
	if (r.o.uring) {
		snprintf(err, sizeof(err), "setting uring 1: this server was built without liburing");
		return serve_fail(&c, err);
	}
#endif
	if (alloc_flows(&r)) {
		snprintf(err, sizeof(err), "out of memory for %d flows", r.o.flows);
		return serve_fail(&c, err);
	}
	lfd = listen_on(base->host, r.o.data_port, r.o.proto == NB_PROTO_NETCHANNEL,
			r.o.flows + 16, r.o.rcvbuf, err, sizeof(err));
	if (lfd < 0) {
		serve_fail(&c, err);
		goto out;
	}
	ctrl_send(&c, "OK\n");
	i = accept_flows(&r, lfd, err, sizeof(err));
	close(lfd);
	if (i) {
		serve_fail(&c, err);
		goto out;
	}
	ctrl_send(&c, "ACCEPTED\n");
	if (ctrl_line(&c, line, sizeof(line), r.o.timeout) || strcmp(line, "START")) {
		fprintf(stderr, "ncbench: error: the client did not start the run\n");
		goto out;
	}
	options_kv(&r, &opts);
	if (!base->quiet) {
		puts("# options");
		print_kv(&opts);
	}
	if (start_workers(&r))
		die("out of memory");
	run_window(&r, NULL, &c);
	if (r.err[0]) {
		serve_fail(&c, r.err);
		goto out;
	}
	host_info(&res, "");
	local_results(&r, &res);
	ctrl_send(&c, "RESULT\n");
	for (i = 0; i < res.n; i++)
		ctrl_send(&c, "%s=%s\n", res.k[i], res.v[i]);
	ctrl_send(&c, "END\n");
	if (!base->quiet) {
		puts("# results");
		print_kv(&res);
	}
	if (r.o.json[0])
		write_json(&r, &opts, &res, NULL);
	rc = 0;
out:
	kv_free(&opts);
	kv_free(&res);
	free_run(&r);
	return rc;
}

static int server_main(const struct nb_opts *o)
{
	char err[NB_ERRLEN];
	double idle_end;
	struct pollfd p;
	int lfd, cfd, rc = 0, ms;

	lfd = listen_on(o->host, o->ctrl_port, 0, 16, 0, err, sizeof(err));
	if (lfd < 0)
		die("control %s", err);
	fprintf(stderr, "ncbench: server listening on %s:%d (control, tcp)\n",
		o->host[0] ? o->host : "0.0.0.0", o->ctrl_port);
	for (;;) {
		idle_end = nb_now() + o->idle_timeout;
		p.fd = lfd;
		p.events = POLLIN;
		ms = o->idle_timeout > 0 ? (int)((idle_end - nb_now()) * 1000) : -1;
		if (poll(&p, 1, ms) <= 0) {
			if (errno == EINTR)
				continue;
			die("no client within --idle-timeout %g s", o->idle_timeout);
		}
		cfd = accept(lfd, NULL, NULL);
		if (cfd < 0)
			continue;
		rc = serve_one(o, cfd) ? 1 : 0;
		close(cfd);
		if (o->once)
			break;
	}
	close(lfd);
	return rc;
}

/* ---- client ---------------------------------------------------------------- */

static int connect_to(const struct nb_opts *o, int proto_nc, int port, char *err, size_t len)
{
	struct sockaddr_in a;
	int fd;

	if (resolve(o->host, port, &a)) {
		snprintf(err, len, "cannot resolve '%.200s'", o->host);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM, proto_nc ? IPPROTO_VIRTUAL_SOCK : 0);
	if (fd < 0) {
		snprintf(err, len, "%s socket: %s%s", proto_nc ? "netchannel" : "tcp",
			 strerror(errno), proto_hint(o, errno));
		return -1;
	}
	set_timeouts(fd, o->timeout);
	if (proto_nc || port == o->data_port) {
		if (data_sockopts(fd, o, err, len)) {
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno == EINPROGRESS || errno == EAGAIN ? ETIMEDOUT : errno;

		snprintf(err, len, "%.200s:%d (%s): %s", o->host, port,
			 proto_nc ? "netchannel" : "tcp", strerror(e));
		close(fd);
		return -1;
	}
	return fd;
}

static int client_main(struct nb_opts *o)
{
	struct kv opts = { 0 }, res = { 0 }, remote = { 0 };
	char buf[2048], line[1024], err[NB_ERRLEN], *eq;
	struct ctrl c = { .fd = -1 };
	struct run r;
	uint32_t hello[2];
	const char *v;
	double cores, rcores;
	FILE *csv = NULL;
	int i, agree = 1;

	memset(&r, 0, sizeof(r));
	r.o = *o;
	options_kv(&r, &opts);
	puts("# options");
	print_kv(&opts);
	if (o->interval > 0) {
		csv = o->csv[0] ? fopen(o->csv, "w") : stdout;
		if (!csv)
			die("--csv %s: %s", o->csv, strerror(errno));
	}
	c.fd = connect_to(o, 0, o->ctrl_port, err, sizeof(err));
	if (c.fd < 0)
		die("cannot reach the ncbench server: %s (is 'ncbench -s' running there?)", err);
	if (nb_settings_format(o, buf, sizeof(buf)) < 0)
		die("settings too long");
	if (ctrl_send(&c, "%s\n%sEND\n", CTRL_MAGIC, buf))
		die("control connection: send: %s", strerror(errno));
	if (ctrl_line(&c, line, sizeof(line), o->timeout))
		die("control connection: no answer from the server within %g s: %s",
		    o->timeout, strerror(errno));
	if (!strncmp(line, "ERR ", 4))
		die("the server refused the test: %s", line + 4);
	if (strcmp(line, "OK"))
		die("control connection: unexpected answer '%.100s'", line);
	if (alloc_flows(&r))
		die("out of memory");
	for (i = 0; i < o->flows; i++) {
		int nc = o->proto == NB_PROTO_NETCHANNEL;
		int fd = connect_to(o, nc, o->data_port, err, sizeof(err));

		if (fd < 0)
			die("data connection %d to %s", i, err);
		hello[0] = htonl(HELLO_MAGIC);
		hello[1] = htonl((uint32_t)i);
		if (send(fd, hello, sizeof(hello), MSG_NOSIGNAL) != sizeof(hello))
			die("data connection %d: send: %s", i, strerror(errno));
		set_nonblock(fd);
		r.flows[i].fd = fd;
	}
	if (ctrl_line(&c, line, sizeof(line), o->timeout))
		die("control connection: the server did not confirm the data connections within %g s: %s",
		    o->timeout, strerror(errno));
	if (!strncmp(line, "ERR ", 4))
		die("server: %s", line + 4);
	if (strcmp(line, "ACCEPTED"))
		die("control connection: unexpected answer '%.100s'", line);
	if (ctrl_send(&c, "START\n"))
		die("control connection: send: %s", strerror(errno));
	if (csv == stdout)
		puts("# interval");
	if (start_workers(&r))
		die("out of memory");
	run_window(&r, csv, &c);
	if (csv && csv != stdout)
		fclose(csv);
	if (r.err[0])
		die("%s", r.err);

	/* the server's side */
	if (ctrl_line(&c, line, sizeof(line), o->timeout))
		die("control connection: no results from the server within %g s: %s",
		    o->timeout, strerror(errno));
	if (!strncmp(line, "ERR ", 4))
		die("server: %s", line + 4);
	if (strcmp(line, "RESULT"))
		die("control connection: unexpected answer '%.100s'", line);
	for (;;) {
		if (ctrl_line(&c, line, sizeof(line), o->timeout))
			die("control connection: results cut short: %s", strerror(errno));
		if (!strcmp(line, "END"))
			break;
		eq = strchr(line, '=');
		if (!eq)
			die("control connection: bad result line '%.100s'", line);
		*eq = '\0';
		kv_add(&remote, line, "%s", eq + 1);
	}
	close(c.fd);

	host_info(&res, "");
	local_results(&r, &res);
	for (i = 0; i < o->flows; i++) {
		const char *rx, *tx;

		snprintf(buf, sizeof(buf), "flow%d_rx_bytes", i);
		rx = kv_get(&remote, buf);
		snprintf(buf, sizeof(buf), "flow%d_tx_bytes", i);
		tx = kv_get(&remote, buf);
		if (!rx || !tx || strtoull(rx, NULL, 10) != r.flows[i].tx ||
		    strtoull(tx, NULL, 10) != r.flows[i].rx) {
			fprintf(stderr,
				"ncbench: error: flow %d: sent %" PRIu64 " received %" PRIu64
				" bytes, the server received %s sent %s\n", i, r.flows[i].tx,
				r.flows[i].rx, rx ? rx : "?", tx ? tx : "?");
			agree = 0;
		}
	}
	v = kv_get(&remote, "cpu_host_busy_cores");
	rcores = v ? strtod(v, NULL) : 0;
	cores = r.cpu.host_busy_cores > rcores ? r.cpu.host_busy_cores : rcores;
	kv_add(&res, "max_host_busy_cores", "%.3f", cores);
	v = kv_get(&res, "throughput_bps");
	kv_add(&res, "throughput_per_core_bps", "%.0f", cores > 0 ? strtod(v, NULL) / cores : 0.0);
	kv_add(&res, "bytes_agree", "%s", agree ? "yes" : "no");
	for (i = 0; i < remote.n; i++) {
		snprintf(buf, sizeof(buf), "remote_%s", remote.k[i]);
		kv_add(&res, buf, "%s", remote.v[i]);
	}
	puts("# results");
	print_kv(&res);
	if (o->json[0])
		write_json(&r, &opts, &res, &remote);
	kv_free(&opts);
	kv_free(&res);
	kv_free(&remote);
	free_run(&r);
	if (!agree)
		die("byte counts of the two ends disagree");
	return 0;
}

#ifndef NB_NO_MAIN
int main(int argc, char **argv)
{
	struct nb_opts o;
	char err[NB_ERRLEN];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	rc = nb_parse_args(argc, argv, &o, err, sizeof(err));
	if (rc == 1) {
		nb_usage(stdout);
		return 0;
	}
	if (rc == 2) {
		puts(err);
		return 0;
	}
	if (rc < 0) {
		fprintf(stderr, "ncbench: error: %s\n", err);
		return 2;
	}
#ifndef NB_HAVE_URING
	if (o.uring) {
		fputs("ncbench: error: --uring: this ncbench was built without liburing\n", stderr);
		return 2;
	}
#endif
	return o.role == NB_ROLE_SERVER ? server_main(&o) : client_main(&o);
}
#endif
