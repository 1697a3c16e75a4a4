// SPDX-License-Identifier: GPL-2.0
/*
 * An ordinary TCP program (knows nothing about NetChannel) used to test
 * nc_preload.so: echo over 127.0.0.1 and report the protocol the kernel
 * actually used for each socket (SO_PROTOCOL: 6 = TCP, 19 = NetChannel),
 * whether a second SO_REUSEPORT listener of the same protocol could share
 * the port (the option survived a swap at bind()), whether the listener's
 * buffer sizes, which it never set, are those of a fresh socket of its
 * protocol (a swap copies only what the application changed), and whether
 * the client keeps the send buffer it set to half of a fresh socket's
 * (which reads back as the default: only the setsockopt() call tells).
 *
 * Then the same over AF_INET6 sockets, as Java, Node.js and Python's
 * http.server make them: a dual-stack listener on "::" (port + 100) and a
 * client connecting to ::ffff:127.0.0.1 without blocking, which should
 * move to NetChannel and still look like IPv6 sockets to the program
 * (addresses, also through dup() and fcntl(F_DUPFD_CLOEXEC), SO_DOMAIN,
 * IPV6_V6ONLY, IPV6_TCLASS), and a listener on ::1 (port + 200), which
 * should stay TCP, as should a client bound to "::" that connects to it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int opt_of(int fd, int name)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, name, &v, &l);
	return v;
}

static int proto_of(int fd)
{
	int v = -1;
	socklen_t l = sizeof(v);

	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l);
	return v;
}

static int wait_for(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	return poll(&p, 1, 5000) == 1;
}

/* an IPv6 address of the full size, IPv4-mapped, and 127.0.0.1 if lo */
static int mapped(const struct sockaddr_in6 *a, socklen_t len, int lo)
{
	static const unsigned char loopback[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };

	return len == sizeof(*a) && a->sin6_family == AF_INET6 &&
	       IN6_IS_ADDR_V4MAPPED(&a->sin6_addr) &&
	       (!lo || !memcmp(&a->sin6_addr, loopback, sizeof(loopback)));
}

/* the IPv6 part (see the top); prints its key=value pairs */
static void v6_case(int port)
{
	struct sockaddr_in6 any = { .sin6_family = AF_INET6, .sin6_port = htons(port + 100) };
	struct sockaddr_in6 to = any, lo = { .sin6_family = AF_INET6, .sin6_port = htons(port + 200) };
	struct sockaddr_in6 peer, name, cpeer, cname, dpeer;
	socklen_t pl = sizeof(peer), nl = sizeof(name), cl = sizeof(cpeer), cnl = sizeof(cname);
	socklen_t dl = sizeof(dpeer);
	int d;
	int l, l1, c, s = -1, one = 1, err = -1, v6only = -1, dom = -1, tc = 0x28, tcl = -1;
	socklen_t il = sizeof(int);
	char buf[16] = { 0 }, view[160] = "";

	inet_pton(AF_INET6, "::ffff:127.0.0.1", &to.sin6_addr);
	lo.sin6_addr = in6addr_loopback;
	l = socket(AF_INET6, SOCK_STREAM, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&any, sizeof(any)) || listen(l, 8)) {
		printf(" v6=listen:%s", strerror(errno));
		return;
	}
	c = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (connect(c, (struct sockaddr *)&to, sizeof(to)) && errno != EINPROGRESS) {
		printf(" v6=connect:%s", strerror(errno));
		return;
	}
	if (wait_for(c, POLLOUT))
		getsockopt(c, SOL_SOCKET, SO_ERROR, &err, &il);
	if (wait_for(l, POLLIN))
		s = accept4(l, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
	if (err || s < 0 || write(c, "hello", 5) != 5 || !wait_for(s, POLLIN) ||
	    read(s, buf, sizeof(buf)) != 5) {
		printf(" v6=echo:%d:%s", err, strerror(errno));
		return;
	}
	/* what accept() says of the client is what the client says of itself */
	if (!mapped(&peer, pl, 0) || getsockname(c, (struct sockaddr *)&cname, &cnl) ||
	    !mapped(&cname, cnl, 0) || peer.sin6_port != cname.sin6_port ||
	    memcmp(&peer.sin6_addr, &cname.sin6_addr, sizeof(peer.sin6_addr)))
		strcat(view, "accept_addr,");
	if (getsockname(l, (struct sockaddr *)&name, &nl) || nl != sizeof(name) ||
	    name.sin6_family != AF_INET6 || name.sin6_port != any.sin6_port ||
	    !IN6_IS_ADDR_UNSPECIFIED(&name.sin6_addr))
		strcat(view, "listener_name,");
	if (getpeername(c, (struct sockaddr *)&cpeer, &cl) || !mapped(&cpeer, cl, 1) ||
	    cpeer.sin6_port != any.sin6_port)
		strcat(view, "client_peer,");
	il = sizeof(int);
	if (getsockopt(s, SOL_SOCKET, SO_DOMAIN, &dom, &il) || dom != AF_INET6)
		strcat(view, "so_domain,");
	il = sizeof(int);
	if (getsockopt(l, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &il) || v6only)
		strcat(view, "v6only,");
	/* a copy of the descriptor is the same IPv6 socket */
	d = dup(c);
	if (d < 0 || getpeername(d, (struct sockaddr *)&dpeer, &dl) || !mapped(&dpeer, dl, 1))
		strcat(view, "dup_peer,");
	if (d >= 0)
		close(d);
	dl = sizeof(dpeer);
	d = fcntl(c, F_DUPFD_CLOEXEC, 0);	/* how Python's socket.dup() copies */
	if (d < 0 || getpeername(d, (struct sockaddr *)&dpeer, &dl) || !mapped(&dpeer, dl, 1))
		strcat(view, "fcntl_dup_peer,");
	if (d >= 0)
		close(d);
	/* accepted (NetChannel's channels choose their own DSCP), and read back as a number */
	il = sizeof(int);
	if (setsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &tc, sizeof(tc)) ||
	    getsockopt(c, IPPROTO_IPV6, IPV6_TCLASS, &tcl, &il) || tcl < 0 || tcl > 255)
		strcat(view, "tclass,");
	l1 = socket(AF_INET6, SOCK_STREAM, 0);
	if (l1 < 0 || bind(l1, (struct sockaddr *)&lo, sizeof(lo)) || listen(l1, 8))
		strcat(view, "loopback_listen,");
	/* a client bound to "::" first (Java's bind(0)) still reaches an IPv6 peer */
	d = socket(AF_INET6, SOCK_STREAM, 0);
	any.sin6_port = 0;
	if (d < 0 || bind(d, (struct sockaddr *)&any, sizeof(any)) ||
	    connect(d, (struct sockaddr *)&lo, sizeof(lo)))
		strcat(view, "bound_client_to_v6,");
	if (d >= 0)
		close(d);
	printf(" v6_listener=%d v6_client=%d v6_accepted=%d v6_loopback=%d v6_view=%s v6_data=%s",
	       proto_of(l), proto_of(c), proto_of(s), proto_of(l1), *view ? view : "ok", buf);
}

int main(int argc, char **argv)
{
	int port = argc > 1 ? atoi(argv[1]) : 7001, one = 1;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int l, l2, c, s, nb, fresh, reuseport, bufs, half;
	char buf[16] = { 0 };

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(l, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8)) {
		perror("listen");
		return 1;
	}
	l2 = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(l2, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	reuseport = !bind(l2, (struct sockaddr *)&a, sizeof(a)) &&
		    !listen(l2, 8) && proto_of(l2) == proto_of(l);
	close(l2);
	fresh = socket(AF_INET, SOCK_STREAM, proto_of(l) == 19 ? 19 : 0);
	bufs = opt_of(l, SO_RCVBUF) == opt_of(fresh, SO_RCVBUF) &&
	       opt_of(l, SO_SNDBUF) == opt_of(fresh, SO_SNDBUF);
	close(fresh);
	c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	half = opt_of(c, SO_SNDBUF) / 2;
	setsockopt(c, SOL_SOCKET, SO_SNDBUF, &half, sizeof(half));
	if (connect(c, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return 1;
	}
	s = accept(l, NULL, NULL);
	if (s < 0 || write(c, "hello", 5) != 5 || read(s, buf, sizeof(buf)) != 5) {
		perror("echo");
		return 1;
	}
	nb = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	printf("PRELOAD listener=%d client=%d accepted=%d nonblock_kept=%d cloexec_kept=%d data=%s",
	       proto_of(l), proto_of(c), proto_of(s),
	       !!(fcntl(nb, F_GETFL) & O_NONBLOCK),
	       !!(fcntl(l, F_GETFD) & FD_CLOEXEC), buf);
	printf(" reuseport=%d bufs_default=%d sndbuf_kept=%d", reuseport, bufs,
	       opt_of(c, SO_SNDBUF) == 2 * half);
	v6_case(port);
	printf("\n");
	return 0;
}
