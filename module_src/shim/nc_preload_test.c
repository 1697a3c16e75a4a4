// SPDX-License-Identifier: GPL-2.0
/*
 * An ordinary TCP program (knows nothing about NetChannel) used to test
 * nc_preload.so: echo over 127.0.0.1 and report the protocol the kernel
 * actually used for each socket (SO_PROTOCOL: 6 = TCP, 19 = NetChannel).
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
	int l, c, s, nb;
	char buf[16] = { 0 };

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 8)) {
		perror("listen");
		return 1;
	}
	c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
	printf("PRELOAD listener=%d client=%d accepted=%d nonblock_kept=%d cloexec_kept=%d data=%s\n",
	       proto_of(l), proto_of(c), proto_of(s),
	       !!(fcntl(nb, F_GETFL) & O_NONBLOCK),
	       !!(fcntl(l, F_GETFD) & FD_CLOEXEC), buf);
	return 0;
}
