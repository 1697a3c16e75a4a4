// SPDX-License-Identifier: GPL-2.0
/*
 * nc_preload.so - run unmodified programs over NetChannel.
 *
 *   LD_PRELOAD=/path/nc_preload.so program ...
 *
 * AF_INET stream sockets (protocol 0 or IPPROTO_TCP) become
 * socket(AF_INET, SOCK_STREAM, IPPROTO_VIRTUAL_SOCK); SOCK_NONBLOCK and
 * SOCK_CLOEXEC are kept.  AF_INET6, AF_UNIX, datagram and raw sockets are
 * left alone.
 *
 * Environment:
 *   NC_PRELOAD_PORTS=p1,p2,...   only sockets that bind() or connect() to
 *                                one of these ports move to NetChannel
 *   NC_PRELOAD_ADDRS=a1,a2,...   only sockets that connect() to one of
 *                                these IPv4 addresses (or bind to them)
 *   NC_PRELOAD_STRICT=1          fail instead of falling back to TCP when
 *                                the NetChannel socket cannot be created
 *   NC_PRELOAD_DEBUG=1           log decisions to stderr
 *
 * With a filter set, a socket starts as TCP and is swapped for a
 * NetChannel socket (same descriptor number, same O_NONBLOCK/FD_CLOEXEC,
 * the options the application changed copied) at bind()/connect() time
 * when it matches.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#ifndef IPPROTO_VIRTUAL_SOCK
#define IPPROTO_VIRTUAL_SOCK 19
#endif

#define MAX_FILTER 64

static int (*real_socket)(int, int, int);
static int (*real_bind)(int, const struct sockaddr *, socklen_t);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);

static unsigned short ports[MAX_FILTER];
static int nports;
static in_addr_t addrs[MAX_FILTER];
static int naddrs;
static int strict, debug;

static void dbg(const char *fmt, ...)
{
	va_list ap;

	if (!debug)
		return;
	va_start(ap, fmt);
	fputs("nc_preload: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

__attribute__((constructor)) static void nc_preload_init(void)
{
	const char *p = getenv("NC_PRELOAD_PORTS");
	const char *a = getenv("NC_PRELOAD_ADDRS");
	char buf[1024], *tok, *save;

	real_socket = dlsym(RTLD_NEXT, "socket");
	real_bind = dlsym(RTLD_NEXT, "bind");
	real_connect = dlsym(RTLD_NEXT, "connect");
	strict = getenv("NC_PRELOAD_STRICT") && atoi(getenv("NC_PRELOAD_STRICT"));
	debug = getenv("NC_PRELOAD_DEBUG") && atoi(getenv("NC_PRELOAD_DEBUG"));
	if (p && *p) {
		snprintf(buf, sizeof(buf), "%s", p);
		for (tok = strtok_r(buf, ",", &save); tok && nports < MAX_FILTER;
		     tok = strtok_r(NULL, ",", &save))
			ports[nports++] = (unsigned short)atoi(tok);
	}
	if (a && *a) {
		snprintf(buf, sizeof(buf), "%s", a);
		for (tok = strtok_r(buf, ",", &save); tok && naddrs < MAX_FILTER;
		     tok = strtok_r(NULL, ",", &save))
			if (inet_pton(AF_INET, tok, &addrs[naddrs]) == 1)
				naddrs++;
	}
}

static int filtering(void)
{
	return nports || naddrs;
}

static int is_tcp_candidate(int domain, int type, int protocol)
{
	return domain == AF_INET &&
	       (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM &&
	       (protocol == 0 || protocol == IPPROTO_TCP);
}

int socket(int domain, int type, int protocol)
{
	int fd;

	if (!real_socket)
		nc_preload_init();
	if (!is_tcp_candidate(domain, type, protocol) || filtering())
		return real_socket(domain, type, protocol);
	fd = real_socket(AF_INET, type, IPPROTO_VIRTUAL_SOCK);
	if (fd >= 0 || strict) {
		dbg("socket -> netchannel fd %d", fd);
		return fd;
	}
	dbg("netchannel socket failed (%s), using TCP", strerror(errno));
	return real_socket(domain, type, protocol);
}

/* Is fd a plain TCP/IPv4 stream socket we may convert? */
static int fd_is_tcp4(int fd)
{
	int v;
	socklen_t l = sizeof(v);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) || v != AF_INET)
		return 0;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) || v != SOCK_STREAM)
		return 0;
	l = sizeof(v);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) || v != IPPROTO_TCP)
		return 0;
	return 1;
}

static int matches(const struct sockaddr *sa, socklen_t len, int is_connect)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	int i, port_ok = !nports, addr_ok = !naddrs;

	if (!sa || len < sizeof(*sin) || sin->sin_family != AF_INET)
		return 0;
	for (i = 0; i < nports; i++)
		if (ntohs(sin->sin_port) == ports[i])
			port_ok = 1;
	for (i = 0; i < naddrs; i++)
		if (sin->sin_addr.s_addr == addrs[i] ||
		    (!is_connect && sin->sin_addr.s_addr == htonl(INADDR_ANY)))
			addr_ok = 1;
	return port_ok && addr_ok;
}

/*
 * The options an application may have set on its TCP socket before bind()
 * or connect() moves it: each is copied when its value differs from a
 * fresh TCP socket's, so what the application left alone keeps the
 * NetChannel socket's own default.  (Setting SO_RCVBUF or SO_SNDBUF locks
 * the buffer: copied always, the TCP default would fix a converted
 * socket's window at 128 KiB instead of the module's default_window.)
 * The module refuses what it does not know; that is ignored here, as the
 * option was the application's wish for TCP.
 */
static const struct {
	int level, name;
} copied[] = {
	{ SOL_SOCKET, SO_REUSEADDR },	{ SOL_SOCKET, SO_REUSEPORT },
	{ SOL_SOCKET, SO_KEEPALIVE },	{ SOL_SOCKET, SO_PRIORITY },
	{ SOL_SOCKET, SO_RCVBUF },	{ SOL_SOCKET, SO_SNDBUF },
	{ SOL_SOCKET, SO_RCVLOWAT },	{ SOL_SOCKET, SO_LINGER },
	{ SOL_SOCKET, SO_RCVTIMEO },	{ SOL_SOCKET, SO_SNDTIMEO },
	{ SOL_SOCKET, SO_OOBINLINE },	{ SOL_SOCKET, SO_MARK },
	{ IPPROTO_TCP, TCP_NODELAY },	{ IPPROTO_TCP, TCP_CORK },
	{ IPPROTO_TCP, TCP_KEEPIDLE },	{ IPPROTO_TCP, TCP_KEEPINTVL },
	{ IPPROTO_TCP, TCP_KEEPCNT },	{ IPPROTO_TCP, TCP_USER_TIMEOUT },
	{ IPPROTO_TCP, TCP_NOTSENT_LOWAT },
};

static void copy_options(int from, int to)
{
	union {
		int i;
		struct linger lg;
		struct timeval tv;
	} v, d;
	socklen_t vl, dl;
	unsigned int i;
	int fresh = real_socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);

	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		vl = sizeof(v);
		dl = sizeof(d);
		memset(&v, 0, sizeof(v));
		memset(&d, 0, sizeof(d));
		if (getsockopt(from, copied[i].level, copied[i].name, &v, &vl))
			continue;
		if (fresh >= 0 &&
		    !getsockopt(fresh, copied[i].level, copied[i].name, &d, &dl) &&
		    vl == dl && !memcmp(&v, &d, vl))
			continue;	/* TCP's default: not the application's */
		if (copied[i].level == SOL_SOCKET &&
		    (copied[i].name == SO_RCVBUF || copied[i].name == SO_SNDBUF))
			v.i /= 2;	/* the kernel reports doubled values */
		setsockopt(to, copied[i].level, copied[i].name, &v, vl);
		dbg("fd %d: option %d/%d copied", from, copied[i].level,
		    copied[i].name);
	}
	if (fresh >= 0)
		close(fresh);
}

/* Replace fd by a NetChannel socket with the same flags and options. */
static int convert(int fd)
{
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD), nfd;

	nfd = real_socket(AF_INET, SOCK_STREAM, IPPROTO_VIRTUAL_SOCK);
	if (nfd < 0)
		return strict ? -1 : 0;
	copy_options(fd, nfd);
	if (dup2(nfd, fd) < 0) {
		close(nfd);
		return strict ? -1 : 0;
	}
	close(nfd);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl);
	if (fdfl >= 0)
		fcntl(fd, F_SETFD, fdfl);
	dbg("fd %d moved to netchannel", fd);
	return 0;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!real_bind)
		nc_preload_init();
	if (filtering() && matches(sa, len, 0) && fd_is_tcp4(fd) && convert(fd))
		return -1;
	return real_bind(fd, sa, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (!real_connect)
		nc_preload_init();
	if (filtering() && matches(sa, len, 1) && fd_is_tcp4(fd) && convert(fd))
		return -1;
	return real_connect(fd, sa, len);
}
