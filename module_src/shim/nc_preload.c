// SPDX-License-Identifier: GPL-2.0
/*
 * nc_preload.so - run unmodified programs over NetChannel.
 *
 *   LD_PRELOAD=/path/nc_preload.so program ...
 *
 * AF_INET stream sockets (protocol 0 or IPPROTO_TCP) become
 * socket(AF_INET, SOCK_STREAM, IPPROTO_VIRTUAL_SOCK); SOCK_NONBLOCK and
 * SOCK_CLOEXEC are kept.  AF_UNIX, datagram and raw sockets are left alone.
 *
 * AF_INET6 stream sockets carry IPv4 too (Java, Node.js, Python's
 * http.server listen on "::" by default): one that listens on "::" while
 * dual-stack (IPV6_V6ONLY off) or on an IPv4-mapped address
 * (::ffff:a.b.c.d) is swapped at listen() for a NetChannel socket bound to
 * the IPv4 address and port, and one that connects to an IPv4-mapped
 * address is swapped at connect(), as with a filter below (a bind() alone
 * swaps nothing: the socket may still connect to an IPv6 peer).  The
 * program keeps its IPv6 view of it: addresses from accept(),
 * getsockname() and getpeername() come back IPv4-mapped ("::" for the
 * wildcard), SO_DOMAIN reads AF_INET6, IPV6_V6ONLY reads 0, IPV6_TCLASS is
 * the IPv4 TOS (0 when the socket has none to read) and other IPv6-level
 * options are accepted and ignored.  Sockets for IPv6 peers stay TCP.
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
 * when it matches.  What the shim notes of a descriptor (the buffer sizes
 * the program set, the IPv6 view) follows it through dup(), dup2(), dup3()
 * and fcntl(F_DUPFD, F_DUPFD_CLOEXEC), and close() forgets it.
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
static int (*real_listen)(int, int);
static int (*real_close)(int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getsockopt)(int, int, int, void *, socklen_t *);
static int (*real_accept4)(int, struct sockaddr *, socklen_t *, int);
static int (*real_getsockname)(int, struct sockaddr *, socklen_t *);
static int (*real_getpeername)(int, struct sockaddr *, socklen_t *);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);

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
	real_listen = dlsym(RTLD_NEXT, "listen");
	real_close = dlsym(RTLD_NEXT, "close");
	real_fcntl = dlsym(RTLD_NEXT, "fcntl");
	real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
	real_connect = dlsym(RTLD_NEXT, "connect");
	real_setsockopt = dlsym(RTLD_NEXT, "setsockopt");
	real_getsockopt = dlsym(RTLD_NEXT, "getsockopt");
	real_accept4 = dlsym(RTLD_NEXT, "accept4");
	real_getsockname = dlsym(RTLD_NEXT, "getsockname");
	real_getpeername = dlsym(RTLD_NEXT, "getpeername");
	real_dup = dlsym(RTLD_NEXT, "dup");
	real_dup2 = dlsym(RTLD_NEXT, "dup2");
	real_dup3 = dlsym(RTLD_NEXT, "dup3");
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
/* an AF_INET6 socket swapped for an IPv4 NetChannel one: show it as IPv6 */
#define NC_V6_VIEW		4
static unsigned char bufs_set[NC_TRACKED_FDS];

static void track_new(int fd)
{
	if (fd >= 0 && fd < NC_TRACKED_FDS)
		bufs_set[fd] = 0;
}

/*
 * fd is a NetChannel socket the program made as AF_INET6.  The note is
 * checked against the socket as well: a descriptor that arrives by a path
 * the shim does not follow (SCM_RIGHTS, a close() by system call) and
 * lands on a noted number loses the note unless it is NetChannel.
 */
static int v6_view(int fd)
{
	int v = 0;
	socklen_t l = sizeof(v);

	if (fd < 0 || fd >= NC_TRACKED_FDS || !(bufs_set[fd] & NC_V6_VIEW))
		return 0;
	if (!real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) && v == IPPROTO_VIRTUAL_SOCK)
		return 1;
	bufs_set[fd] &= ~NC_V6_VIEW;
	return 0;
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
	if (is_tcp_candidate(domain, type, protocol) && !filtering()) {
		fd = real_socket(AF_INET, type, IPPROTO_VIRTUAL_SOCK);
		if (fd >= 0 || strict) {
			dbg("socket -> netchannel fd %d", fd);
			track_new(fd);
			return fd;
		}
		dbg("netchannel socket failed (%s), using TCP", strerror(errno));
	}
	fd = real_socket(domain, type, protocol);
	track_new(fd);
	return fd;
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	int err;

	if (!real_setsockopt)
		nc_preload_init();
	if (level == IPPROTO_IPV6 && v6_view(fd)) {
		/* the socket is IPv4 underneath: the traffic class is its TOS */
		if (name == IPV6_TCLASS)
			return real_setsockopt(fd, IPPROTO_IP, IP_TOS, val, len);
		return 0;
	}
	err = real_setsockopt(fd, level, name, val, len);
	if (!err && level == SOL_SOCKET && fd >= 0 && fd < NC_TRACKED_FDS) {
		if (name == SO_RCVBUF || name == SO_RCVBUFFORCE)
			bufs_set[fd] |= NC_SET_RCVBUF;
		else if (name == SO_SNDBUF || name == SO_SNDBUFFORCE)
			bufs_set[fd] |= NC_SET_SNDBUF;
	}
	return err;
}

/* Is fd a plain TCP stream socket of this family we may convert? */
static int fd_is_tcp(int fd, int family)
{
	int v;
	socklen_t l = sizeof(v);

	if (real_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) || v != family)
		return 0;
	l = sizeof(v);
	if (real_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) || v != SOCK_STREAM)
		return 0;
	l = sizeof(v);
	if (real_getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) || v != IPPROTO_TCP)
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
	return fresh >= 0 && !real_getsockopt(fresh, level, name, &d, &dl) &&
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
		if (real_getsockopt(from, level, name, &v, &vl))
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
					     &v, vl)) {
				dbg("fd %d: option %d/%d copied (FORCE)", from, level, name);
				continue;
			}
		} else if (tcp_default(fresh, level, name, &v, vl)) {
			continue;	/* not the program's */
		}
		real_setsockopt(to, level, name, &v, vl);
		dbg("fd %d: option %d/%d copied", from, level, name);
	}
	if (fresh >= 0)
		real_close(fresh);
}

/*
 * Replace fd by a NetChannel socket with the same flags and options; v6:
 * fd was AF_INET6, and the program keeps seeing it so.
 */
static int convert(int fd, int v6)
{
	int fl, fdfl, nfd;

	/* the IPv6 view lives in the table: a socket beyond it stays TCP */
	if (v6 && (fd < 0 || fd >= NC_TRACKED_FDS))
		return 0;
	fl = real_fcntl(fd, F_GETFL);
	fdfl = real_fcntl(fd, F_GETFD);
	nfd = real_socket(AF_INET, SOCK_STREAM, IPPROTO_VIRTUAL_SOCK);
	if (nfd < 0)
		return strict ? -1 : 0;
	copy_options(fd, nfd);
	if (real_dup2(nfd, fd) < 0) {
		real_close(nfd);
		return strict ? -1 : 0;
	}
	real_close(nfd);
	if (fl >= 0)
		real_fcntl(fd, F_SETFL, fl);
	if (fdfl >= 0)
		real_fcntl(fd, F_SETFD, fdfl);
	if (fd < NC_TRACKED_FDS)
		bufs_set[fd] = (bufs_set[fd] & ~NC_V6_VIEW) | (v6 ? NC_V6_VIEW : 0);
	dbg("fd %d moved to netchannel%s", fd, v6 ? " (IPv6 view)" : "");
	return 1;
}

/*
 * The IPv4 address an AF_INET6 stream socket's address sa means (the one
 * it binds, listens on or connects to), in *sin: an IPv4-mapped address, or "::" for a dual-stack
 * bind.  0 when sa is not such an address (the socket stays TCP).
 */
static int v4_of_v6(int fd, const struct sockaddr *sa, socklen_t len,
		    int is_connect, struct sockaddr_in *sin)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	int v6only = 1;
	socklen_t l = sizeof(v6only);

	if (!sa || len < sizeof(*s6) || s6->sin6_family != AF_INET6)
		return 0;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = s6->sin6_port;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(&sin->sin_addr, &s6->sin6_addr.s6_addr[12], 4);
		return 1;
	}
	if (is_connect || !IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
		return 0;
	/* "::" carries IPv4 only while IPV6_V6ONLY is off */
	if (real_getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &l) || v6only)
		return 0;
	sin->sin_addr.s_addr = htonl(INADDR_ANY);
	return 1;
}

/*
 * connect() of an AF_INET6 socket to an IPv4-mapped address: swap it (if
 * the filter lets it, and it is not bound to an IPv6 address) for a
 * NetChannel socket, bound again to the port it had if any; *sin is then
 * the address to connect to.  1 when fd is (now) such a socket, 0 to go
 * on as TCP, -1 with errno when the swap failed in strict mode.
 */
static int v6_connect(int fd, const struct sockaddr *sa, socklen_t len, struct sockaddr_in *sin)
{
	struct sockaddr_in6 mine;
	struct sockaddr_in local;
	socklen_t ml = sizeof(mine);
	int r, bound;

	if (!v4_of_v6(fd, sa, len, 1, sin))
		return 0;
	if (v6_view(fd))
		return 1;
	if ((filtering() && !matches((struct sockaddr *)sin, sizeof(*sin), 1)) ||
	    !fd_is_tcp(fd, AF_INET6) || real_getsockname(fd, (struct sockaddr *)&mine, &ml))
		return 0;
	bound = mine.sin6_port != 0;
	if (bound && !v4_of_v6(fd, (struct sockaddr *)&mine, ml, 0, &local))
		return 0;	/* an IPv6 source cannot reach an IPv4 peer anyway */
	r = convert(fd, 1);
	if (r <= 0)
		return r;
	if (bound && real_bind(fd, (struct sockaddr *)&local, sizeof(local)))
		return -1;
	return 1;
}

int listen(int fd, int backlog)
{
	struct sockaddr_in6 mine;
	struct sockaddr_in sin;
	socklen_t ml = sizeof(mine);
	int r;

	if (!real_listen)
		nc_preload_init();
	/* a listener on "::" (dual-stack) or on an IPv4-mapped address */
	if (fd_is_tcp(fd, AF_INET6) &&
	    !real_getsockname(fd, (struct sockaddr *)&mine, &ml) &&
	    v4_of_v6(fd, (struct sockaddr *)&mine, ml, 0, &sin) &&
	    (!filtering() || matches((struct sockaddr *)&sin, sizeof(sin), 0))) {
		r = convert(fd, 1);
		if (r < 0)
			return -1;
		/* the TCP socket's port (the one the program chose, or the kernel) */
		if (r > 0 && real_bind(fd, (struct sockaddr *)&sin, sizeof(sin)))
			return -1;
	}
	return real_listen(fd, backlog);
}

/*
 * An IPv4 address the kernel wrote for a socket seen as IPv6: rewrite it
 * IPv4-mapped into the program's buffer of *len bytes (truncated to fit;
 * *len says the full size, as the kernel does).
 */
static void show_as_v6(const struct sockaddr_in *sin, struct sockaddr *sa,
		       socklen_t *len)
{
	struct sockaddr_in6 s6;

	if (!sa || !len || sin->sin_family != AF_INET)
		return;
	memset(&s6, 0, sizeof(s6));
	s6.sin6_family = AF_INET6;
	s6.sin6_port = sin->sin_port;
	/* the wildcard a listener on "::" was bound to stays "::" */
	if (sin->sin_addr.s_addr != htonl(INADDR_ANY)) {
		s6.sin6_addr.s6_addr[10] = 0xff;
		s6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6.sin6_addr.s6_addr[12], &sin->sin_addr, 4);
	}
	memcpy(sa, &s6, *len < sizeof(s6) ? *len : sizeof(s6));
	*len = sizeof(s6);
}

/* getsockname() or getpeername() through real, shown as IPv6 if need be */
static int name_of(int (*real)(int, struct sockaddr *, socklen_t *), int fd,
		   struct sockaddr *sa, socklen_t *len)
{
	struct sockaddr_in sin;
	socklen_t l = sizeof(sin);
	int err;

	if (!v6_view(fd) || !sa || !len)
		return real(fd, sa, len);
	err = real(fd, (struct sockaddr *)&sin, &l);
	if (!err)
		show_as_v6(&sin, sa, len);
	return err;
}

int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!real_getsockname)
		nc_preload_init();
	return name_of(real_getsockname, fd, sa, len);
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	if (!real_getpeername)
		nc_preload_init();
	return name_of(real_getpeername, fd, sa, len);
}

/*
 * accept(), which the kernel makes accept4() with no flags.  A connection
 * accepted on a listener seen as IPv6 is seen so too: its peer's address
 * comes back IPv4-mapped.
 */
int accept4(int lfd, struct sockaddr *sa, socklen_t *len, int flags)
{
	struct sockaddr_in sin;
	socklen_t l = sizeof(sin);
	int v6, want, fd;

	if (!real_accept4)
		nc_preload_init();
	v6 = v6_view(lfd);
	want = v6 && sa && len;
	fd = want ? real_accept4(lfd, (struct sockaddr *)&sin, &l, flags) :
		    real_accept4(lfd, sa, len, flags);
	track_new(fd);
	if (fd >= 0 && v6 && fd < NC_TRACKED_FDS)
		bufs_set[fd] |= NC_V6_VIEW;
	if (fd >= 0 && want)
		show_as_v6(&sin, sa, len);
	return fd;
}

int accept(int lfd, struct sockaddr *sa, socklen_t *len)
{
	return accept4(lfd, sa, len, 0);
}

/* a copy of a descriptor is the same socket: it gets the same notes */
static int copied_fd(int from, int to)
{
	if (to >= 0 && to < NC_TRACKED_FDS && to != from)
		bufs_set[to] = from >= 0 && from < NC_TRACKED_FDS ? bufs_set[from] : 0;
	return to;
}

int dup(int fd)
{
	if (!real_dup)
		nc_preload_init();
	return copied_fd(fd, real_dup(fd));
}

int dup2(int fd, int to)
{
	if (!real_dup2)
		nc_preload_init();
	return copied_fd(fd, real_dup2(fd, to));
}

int dup3(int fd, int to, int flags)
{
	if (!real_dup3)
		nc_preload_init();
	return copied_fd(fd, real_dup3(fd, to, flags));
}

int close(int fd)
{
	if (!real_close)
		nc_preload_init();
	track_new(fd);
	return real_close(fd);
}

/* F_DUPFD and F_DUPFD_CLOEXEC copy a descriptor: the notes go with it */
static int fcntl_through(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	int r = real(fd, cmd, arg);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		copied_fd(fd, r);
	return r;
}

int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);	/* as the C library reads it */
	va_end(ap);
	if (!real_fcntl)
		nc_preload_init();
	return fcntl_through(real_fcntl, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!real_fcntl64)
		nc_preload_init();
	return fcntl_through(real_fcntl64 ? real_fcntl64 : real_fcntl, fd, cmd, arg);
}

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int v = 0;

	if (!real_getsockopt)
		nc_preload_init();
	if (!v6_view(fd) || !val || !len || *len < sizeof(int))
		return real_getsockopt(fd, level, name, val, len);
	if (level == SOL_SOCKET && name == SO_DOMAIN) {
		v = AF_INET6;
	} else if (level == IPPROTO_IPV6 && name == IPV6_TCLASS) {
		/* the IPv4 TOS; 0 where the socket keeps none (the module's channels mark their own) */
		int err = real_getsockopt(fd, IPPROTO_IP, IP_TOS, val, len);

		if (!err || errno != ENOPROTOOPT)
			return err;
	} else if (level != IPPROTO_IPV6 || name != IPV6_V6ONLY) {
		return real_getsockopt(fd, level, name, val, len);
	}
	memcpy(val, &v, sizeof(v));
	*len = sizeof(v);
	return 0;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_in sin;

	if (!real_bind)
		nc_preload_init();
	/* already swapped (seen as IPv6): bind to the IPv4 address meant */
	if (v6_view(fd) && v4_of_v6(fd, sa, len, 0, &sin))
		return real_bind(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (filtering() && matches(sa, len, 0) && fd_is_tcp(fd, AF_INET) && convert(fd, 0) < 0)
		return -1;
	return real_bind(fd, sa, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	struct sockaddr_in sin;
	int r;

	if (!real_connect)
		nc_preload_init();
	r = v6_connect(fd, sa, len, &sin);
	if (r < 0)
		return -1;
	if (r > 0)
		return real_connect(fd, (struct sockaddr *)&sin, sizeof(sin));
	if (filtering() && matches(sa, len, 1) && fd_is_tcp(fd, AF_INET) && convert(fd, 0) < 0)
		return -1;
	return real_connect(fd, sa, len);
}
