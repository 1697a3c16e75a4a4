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
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);

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
	real_setsockopt = dlsym(RTLD_NEXT, "setsockopt");
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

/*
 * Which buffer sizes the program set on each descriptor (bit 0 receive,
 * bit 1 send): the value read back cannot tell, since the kernel reports
 * twice what was set and half of TCP's default reads back as the default.
 */
#define NC_TRACKED_FDS		65536
#define NC_SET_RCVBUF		1
#define NC_SET_SNDBUF		2
static unsigned char bufs_set[NC_TRACKED_FDS];

static void track_new(int fd)
{
	if (fd >= 0 && fd < NC_TRACKED_FDS)
		bufs_set[fd] = 0;
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
	if (!is_tcp_candidate(domain, type, protocol) || filtering()) {
		fd = real_socket(domain, type, protocol);
		track_new(fd);
		return fd;
	}
	fd = real_socket(AF_INET, type, IPPROTO_VIRTUAL_SOCK);
	track_new(fd);
	if (fd >= 0 || strict) {
		dbg("socket -> netchannel fd %d", fd);
		return fd;
	}
	dbg("netchannel socket failed (%s), using TCP", strerror(errno));
	fd = real_socket(domain, type, protocol);
	track_new(fd);
	return fd;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int err;

	if (!real_setsockopt)
		nc_preload_init();
	err = real_setsockopt(fd, level, name, val, len);
	if (!err && level == SOL_SOCKET && fd >= 0 && fd < NC_TRACKED_FDS) {
		if (name == SO_RCVBUF || name == SO_RCVBUFFORCE)
			bufs_set[fd] |= NC_SET_RCVBUF;
		else if (name == SO_SNDBUF || name == SO_SNDBUFFORCE)
			bufs_set[fd] |= NC_SET_SNDBUF;
	}
	return err;
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
 * or connect() moves it: each is copied when the program set it (buffer
 * sizes, tracked by setsockopt() above) or its value differs from a fresh
 * TCP socket's, so what the program left alone keeps the NetChannel
 * socket's own default.  (Setting SO_RCVBUF or SO_SNDBUF locks the buffer:
 * copied always, TCP's defaults would fix a swapped socket's window at
 * 128 KiB and its send limit at 16 KiB instead of the module's
 * default_window.)  The module refuses what it does not know; that is
 * ignored here, as the option was the program's wish for TCP.
 */
static const struct {
	int level, name;
	unsigned char set_bit;	/* buffer sizes: the bit in bufs_set */
} copied[] = {
	{ .level = SOL_SOCKET, .name = SO_REUSEADDR },
	{ .level = SOL_SOCKET, .name = SO_REUSEPORT },
	{ .level = SOL_SOCKET, .name = SO_KEEPALIVE },
	{ .level = SOL_SOCKET, .name = SO_PRIORITY },
	{ .level = SOL_SOCKET, .name = SO_RCVBUF, .set_bit = NC_SET_RCVBUF },
	{ .level = SOL_SOCKET, .name = SO_SNDBUF, .set_bit = NC_SET_SNDBUF },
	{ .level = SOL_SOCKET, .name = SO_RCVLOWAT },
	{ .level = SOL_SOCKET, .name = SO_LINGER },
	{ .level = SOL_SOCKET, .name = SO_RCVTIMEO },
	{ .level = SOL_SOCKET, .name = SO_SNDTIMEO },
	{ .level = SOL_SOCKET, .name = SO_OOBINLINE },
	{ .level = SOL_SOCKET, .name = SO_MARK },
	{ .level = IPPROTO_TCP, .name = TCP_NODELAY },
	{ .level = IPPROTO_TCP, .name = TCP_CORK },
	{ .level = IPPROTO_TCP, .name = TCP_KEEPIDLE },
	{ .level = IPPROTO_TCP, .name = TCP_KEEPINTVL },
	{ .level = IPPROTO_TCP, .name = TCP_KEEPCNT },
	{ .level = IPPROTO_TCP, .name = TCP_USER_TIMEOUT },
	{ .level = IPPROTO_TCP, .name = TCP_NOTSENT_LOWAT },
};

union optval {
	int i;
	struct linger lg;
	struct timeval tv;
};

/* Does the fresh TCP socket have this very value (TCP's default)? */
static int tcp_default(int fresh, int level, int name,
		       const union optval *v, socklen_t vl)
{
	union optval d;
	socklen_t dl = sizeof(d);

	memset(&d, 0, sizeof(d));
	return fresh >= 0 && !getsockopt(fresh, level, name, &d, &dl) &&
	       vl == dl && !memcmp(v, &d, vl);
}

static void copy_options(int from, int to)
{
	int fresh = real_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC,
				IPPROTO_TCP);
	int set = from < NC_TRACKED_FDS ? bufs_set[from] : 0;
	unsigned int i;

	for (i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
		int level = copied[i].level, name = copied[i].name;
		union optval v;
		socklen_t vl = sizeof(v);

		memset(&v, 0, sizeof(v));
		if (getsockopt(from, level, name, &v, &vl))
			continue;
		if (copied[i].set_bit) {
			/* without a fresh socket to compare, only what was set */
			if (!(set & copied[i].set_bit) &&
			    (fresh < 0 || tcp_default(fresh, level, name, &v, vl)))
				continue;
			v.i /= 2;	/* the kernel reports doubled values */
			/* a size set with the FORCE variant may exceed the cap */
			if (!real_setsockopt(to, level, name == SO_RCVBUF ?
					     SO_RCVBUFFORCE : SO_SNDBUFFORCE,
					     &v, vl))
				continue;
		} else if (tcp_default(fresh, level, name, &v, vl)) {
			continue;	/* not the program's */
		}
		real_setsockopt(to, level, name, &v, vl);
		dbg("fd %d: option %d/%d copied", from, level, name);
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
