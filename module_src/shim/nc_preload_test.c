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
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
	printf(" reuseport=%d bufs_default=%d sndbuf_kept=%d\n", reuseport, bufs,
	       opt_of(c, SO_SNDBUF) == 2 * half);
	return 0;
}
