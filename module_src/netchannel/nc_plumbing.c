// SPDX-License-Identifier: GPL-2.0
/*
 * nc_plumbing.c - NetChannel virtual sockets, the top layer:
 * socket(AF_INET, SOCK_STREAM, 19) and its proto/proto_ops (bind,
 * listen, accept, connect, sendmsg, recvmsg, poll, shutdown, close,
 * socket options, ioctls), registration, and the sockets' lines in
 * /proc/net/netchannel.  It calls down into nc_incoming.c,
 * nc_outgoing.c, nc_mem.c and nc_sock.c; nothing below calls it.
 *
 * A virtual connection is identified by (peer, local port, remote port)
 * plus a connection id chosen by the connecting side.  Its control frames
 * travel on one outbound channel of its class, chosen from the ports; its
 * DATA frames may be spread over every channel of the class its socket
 * priority names now (striping, nc_tx_chan()), and the receiver's reorder
 * queue puts them back in order.
 *
 * Locking: see "Virtual sockets" in nc_impl.h.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/seq_file.h>
#include <linux/sched/signal.h>
#include <linux/termios.h>
#include <linux/sockios.h>
#include <linux/percpu_counter.h>
#include <linux/memcontrol.h>
#include <linux/sched/mm.h>
#include <linux/vmalloc.h>
#include <net/sock.h>
#include <net/inet_common.h>
#include <net/protocol.h>
#include <net/ip.h>
#include <net/tcp_states.h>

#include "nc_impl.h"

/* ---- socket operations ---- */

/*
 * The channels, the port map and the listeners belong to the initial
 * network namespace: refuse the protocol elsewhere (a container must not
 * reach the host's peers or take its virtual ports).  EPROTONOSUPPORT is
 * what socket() answers for a protocol the namespace does not offer.
 */
static int nc_sk_init(struct sock *sk)
{
	if (!net_eq(sock_net(sk), &init_net))
		return -EPROTONOSUPPORT;
	nc_sock_setup(nc_sk(sk));
	INIT_DELAYED_WORK(&nc_sk(sk)->ack_work, nc_ack_work);
	INIT_DELAYED_WORK(&nc_sk(sk)->rtx_work, nc_rtx_work);
	percpu_counter_inc(&nc_sockets_allocated);
	sk->sk_destruct = nc_sock_destruct;
	return 0;
}

/* Only sk_common_release() calls this, after a refused nc_sk_init(). */
static void nc_sk_unhash(struct sock *sk)
{
}

static bool nc_addr_is_local(__be32 addr)
{
	u32 ip = ntohl(addr);

	return addr == htonl(INADDR_ANY) || ip == nc_cfg.local_ip ||
	       (ip >> 24) == 127;
}

static int nc_bind(struct socket *sock, struct sockaddr *uaddr, int addr_len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)uaddr;
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	u16 port;
	int err;

	if (addr_len < (int)sizeof(*sin))
		return -EINVAL;
	if (sin->sin_family != AF_INET)
		return -EAFNOSUPPORT;
	if (!nc_addr_is_local(sin->sin_addr.s_addr))
		return -EADDRNOTAVAIL;
	port = ntohs(sin->sin_port);
	if (port && inet_port_requires_bind_service(sock_net(sk), port) &&
	    !ns_capable(sock_net(sk)->user_ns, CAP_NET_BIND_SERVICE))
		return -EACCES;

	lock_sock(sk);
	err = -EINVAL;
	if (sk->sk_state != TCP_CLOSE || nsk->port_reserved)
		goto out;
	err = nc_port_get(nsk, port);
	if (err)
		goto out;
	nsk->inet.inet_rcv_saddr = sin->sin_addr.s_addr;
	nsk->inet.inet_saddr = sin->sin_addr.s_addr;
	/* an address given, not INADDR_ANY: connect() keeps it, as TCP's */
	if (sin->sin_addr.s_addr != htonl(INADDR_ANY))
		sk->sk_userlocks |= SOCK_BINDADDR_LOCK;
out:
	release_sock(sk);
	return err;
}

static int nc_listen(struct socket *sock, int backlog)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	int err = 0;

	lock_sock(sk);
	if (sock->state != SS_UNCONNECTED) {
		err = -EINVAL;
		goto out;
	}
	WRITE_ONCE(sk->sk_max_ack_backlog, backlog);
	if (sk->sk_state == TCP_LISTEN)
		goto out;
	if (sk->sk_state != TCP_CLOSE || nsk->peer) {
		err = -EINVAL;
		goto out;
	}
	if (!nsk->port_reserved) {
		err = nc_port_get(nsk, 0);
		if (err)
			goto out;
	}
	/*
	 * A failed connection's worker may not have taken it out yet; a new
	 * conn_id keeps that worker's late removal off the listener.
	 */
	nc_unhash(nsk);
	WRITE_ONCE(nsk->conn_id, get_random_u32());
	nc_set_key(nsk, 0, 0);
	err = nc_listener_hash(nsk);
	if (err)
		goto out;
	WRITE_ONCE(sk->sk_state, TCP_LISTEN);
out:
	release_sock(sk);
	if (!err)
		nc_listen_room(nsk);	/* for the first children */
	return err;
}

static int nc_accept(struct socket *sock, struct socket *newsock, int flags)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk), *child = NULL;
	long timeo;
	int err = 0;

	lock_sock(sk);
	timeo = sock_rcvtimeo(sk, flags & O_NONBLOCK);
	for (;;) {
		if (sk->sk_state != TCP_LISTEN) {
			err = -EINVAL;
			break;
		}
		spin_lock(&nsk->lock);
		if (!list_empty(&nsk->acceptq)) {
			child = list_first_entry(&nsk->acceptq, struct nc_sock,
						 accept_node);
			list_del_init(&child->accept_node);
			WRITE_ONCE(nsk->acceptq_len, nsk->acceptq_len - 1);
		}
		spin_unlock(&nsk->lock);
		if (child)
			break;
		if (!timeo) {
			err = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(timeo);
			break;
		}
		nc_wait(sk, &timeo, !list_empty_careful(&nsk->acceptq) ||
			READ_ONCE(sk->sk_state) != TCP_LISTEN);
	}
	release_sock(sk);
	if (!child)
		return err;

	lock_sock(nc_to_sk(child));
	sock_graft(nc_to_sk(child), newsock);
	newsock->state = SS_CONNECTED;
	release_sock(nc_to_sk(child));
	/*
	 * The channel worker does not reclaim for a cgroup (see
	 * nc_room_work()): the listener's owner makes room for the next
	 * children here, in its own context, so a cgroup full of page cache
	 * does not refuse them.  Nothing to do when there is room.
	 */
	nc_listen_room(nsk);
	return 0;
}

#if NC_HAS_ACCEPT_ARG
static int nc_accept_op(struct socket *sock, struct socket *newsock,
			struct proto_accept_arg *arg)
{
	return nc_accept(sock, newsock, arg->flags);
}
#else
static int nc_accept_op(struct socket *sock, struct socket *newsock, int flags,
			bool kern)
{
	return nc_accept(sock, newsock, flags);
}
#endif

static int nc_connect(struct socket *sock, struct sockaddr *uaddr,
		      int addr_len, int flags)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)uaddr;
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	struct nc_peer *peer;
	struct nc_chan *ch;
	long timeo, ctimeo;
	u32 gen, prio;
	u16 rport;
	int err;

	if (addr_len < (int)sizeof(*sin))
		return -EINVAL;
	if (sin->sin_family != AF_INET)
		return -EAFNOSUPPORT;

	lock_sock(sk);
	switch (sock->state) {
	case SS_CONNECTED:
		err = -EISCONN;
		goto out;
	case SS_CONNECTING:
		if (sk->sk_state == TCP_SYN_SENT) {
			err = -EALREADY;
			if (flags & O_NONBLOCK)
				goto out;
			goto wait;
		}
		goto result;
	case SS_UNCONNECTED:
		break;
	default:
		err = -EINVAL;
		goto out;
	}
	err = -EISCONN;
	if (READ_ONCE(sk->sk_state) != TCP_CLOSE || nsk->peer)
		goto out;
	/*
	 * A failed connection's worker publishes TCP_CLOSE before it takes
	 * the socket out of the table: out with it now, before the key and
	 * conn_id change (the worker then leaves this incarnation alone,
	 * nc_unhash_conn()).
	 */
	nc_unhash(nsk);

	rport = ntohs(sin->sin_port);
	err = -EADDRNOTAVAIL;
	if (!rport)
		goto out;
	peer = nc_peer_find(ntohl(sin->sin_addr.s_addr));
	err = -ENETUNREACH;	/* not a NetChannel peer */
	if (!peer)
		goto out;
	if (!nsk->port_reserved) {
		err = nc_port_get(nsk, 0);
		if (err)
			goto out;
	}
	prio = READ_ONCE(sk->sk_priority);	/* once: SO_PRIORITY needs no lock */
	nsk->latency = prio >= (u32)READ_ONCE(nc_tun.latency_priority);
	nsk->rport = rport;
	/* any channel of the class that is up, the hashed one first */
	ch = nc_peer_chan_up(peer, nsk->latency, nsk->lport, rport, &gen,
			     msecs_to_jiffies(READ_ONCE(nc_tun.chan_wait_ms)));
	if (IS_ERR(ch)) {
		err = (int)PTR_ERR(ch);
		if (err != -ERESTARTSYS)
			err = -EHOSTUNREACH;	/* channel to the peer is down */
		goto out;
	}
	nsk->txch = ch;
	nsk->peer = peer;
	nsk->txgen = gen;
	/*
	 * Before nc_rx_reserve() sets the window up again under nsk->lock:
	 * a worker's late give-back of a grant (nc_send_credit()) then
	 * either comes before that and is wiped, or sees this conn_id and
	 * leaves the new window alone.
	 */
	WRITE_ONCE(nsk->conn_id, get_random_u32());
	nsk->peer_fin = false;
	nsk->fin_sent = false;
	/* nothing a failed connection left unread reaches this one */
	nc_rxq_purge(nsk, true);
	/* nor its DATA still waiting for a turn, maybe to another peer */
	nc_chan_drop_flows(nsk->txfl, ARRAY_SIZE(nsk->txfl));
	nc_stripe_start(nsk, ch, gen, prio);
	err = nc_rx_reserve(nsk, nc_sock_window(sk));
	if (err)
		goto undo;
	nc_txc_init(&nsk->txc, 0, 0);
	nc_rtx_reset(nsk, false);	/* on when the ACCEPT says (nc_rx_accept()) */
	nc_set_key(nsk, peer->ip, rport);
	nsk->inet.inet_daddr = sin->sin_addr.s_addr;
	nsk->inet.inet_dport = sin->sin_port;
	if (!(sk->sk_userlocks & SOCK_BINDADDR_LOCK)) {
		/*
		 * TCP's source address: 127.0.0.1 for 127/8 (lo's route),
		 * chosen again by each connect() unless bind() named one
		 * (not one a failed connect() to elsewhere left)
		 */
		__be32 src = ipv4_is_loopback(sin->sin_addr.s_addr) ?
			     htonl(INADDR_LOOPBACK) : htonl(nc_cfg.local_ip);

		nsk->inet.inet_saddr = src;
		nsk->inet.inet_rcv_saddr = src;
	}
	WRITE_ONCE(sk->sk_err, 0);
	WRITE_ONCE(sk->sk_state, TCP_SYN_SENT);
	err = nc_hash(nsk);
	if (err)
		goto undo;
	err = nc_send(nsk, NC_T_CONNECT, nsk->rxc.lim);
	if (err) {
		nc_unhash(nsk);
		err = -EHOSTUNREACH;
		goto undo;
	}
	sock->state = SS_CONNECTING;
	if (flags & O_NONBLOCK) {
		err = -EINPROGRESS;
		goto out;
	}

wait:
	timeo = sock_sndtimeo(sk, flags & O_NONBLOCK);
	ctimeo = msecs_to_jiffies(READ_ONCE(nc_tun.connect_timeout_ms));
	if (ctimeo < timeo)
		timeo = ctimeo;
	while (READ_ONCE(sk->sk_state) == TCP_SYN_SENT) {
		if (signal_pending(current)) {
			err = sock_intr_errno(timeo);
			goto out;
		}
		if (!timeo) {
			bool gave_up;

			/*
			 * Give up: tell the peer and fail, unless the ACCEPT
			 * (or a failure, whose worker tells the peer and
			 * unhashes) came first: then that is the result.
			 * Nothing was sent yet: nothing is kept.
			 */
			spin_lock(&nsk->lock);
			gave_up = sk->sk_state == TCP_SYN_SENT;
			if (gave_up)
				WRITE_ONCE(sk->sk_state, TCP_CLOSE);
			spin_unlock(&nsk->lock);
			if (gave_up) {
				nc_send(nsk, NC_T_RESET, 0);
				nc_unhash(nsk);
				WRITE_ONCE(sk->sk_err, ETIMEDOUT);
			}
			break;
		}
		nc_wait(sk, &timeo, READ_ONCE(sk->sk_state) != TCP_SYN_SENT);
	}
result:
	if (sk->sk_state == TCP_ESTABLISHED) {
		sock->state = SS_CONNECTED;
		err = 0;
	} else {
		err = sock_error(sk) ? : -ECONNREFUSED;
		sock->state = SS_UNCONNECTED;
		nsk->peer = NULL;
	}
	goto out;
undo:
	/* under the lock, as every end of a connection the workers may see */
	spin_lock(&nsk->lock);
	WRITE_ONCE(sk->sk_state, TCP_CLOSE);
	spin_unlock(&nsk->lock);
	nsk->peer = NULL;
out:
	release_sock(sk);
	return err;
}

/*
 * Like sk_stream_wait_connect(): wait while the connection is being set
 * up; EAGAIN when the caller does not wait (MSG_DONTWAIT, O_NONBLOCK or
 * the send timeout ran out), not EPIPE.
 */
static int nc_wait_connect(struct sock *sk, long *timeo)
{
	while (READ_ONCE(sk->sk_state) == TCP_SYN_SENT) {
		if (READ_ONCE(sk->sk_err))
			return sock_error(sk);
		if (!*timeo)
			return -EAGAIN;
		if (signal_pending(current))
			return sock_intr_errno(*timeo);
		nc_wait(sk, timeo, READ_ONCE(sk->sk_state) != TCP_SYN_SENT ||
			READ_ONCE(sk->sk_err));
	}
	return 0;
}

/*
 * sendmsg() found no room (queue, credit or memory): mark the socket so
 * that nc_write_space() wakes it when frames leave; the error to return
 * instead of waiting, or 0 to wait.
 */
static int nc_tx_full(struct socket *sock, long timeo)
{
	set_bit(SOCK_NOSPACE, &sock->flags);
	/* bit before the caller's re-check; pairs with nc_txframe_done() */
	smp_mb__after_atomic();
	if (!timeo)
		return -EAGAIN;
	if (signal_pending(current))
		return sock_intr_errno(timeo);
	return 0;
}

static int nc_sendmsg(struct socket *sock, struct msghdr *msg, size_t len)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	size_t copied = 0;
	long timeo;
	int err = 0;

	if (msg->msg_flags & MSG_OOB)
		return -EOPNOTSUPP;
	lock_sock(sk);
	timeo = sock_sndtimeo(sk, msg->msg_flags & MSG_DONTWAIT);
	err = nc_wait_connect(sk, &timeo);

	while (!err && copied < len) {
		struct nc_txframe *f;
		struct nc_hdr h = { };
		u32 avail, n, seq, gen = 0;
		struct nc_chan *ch;
		bool shut, keep;
		int state;

		spin_lock(&nsk->lock);
		state = sk->sk_state;
		shut = sk->sk_shutdown & SEND_SHUTDOWN;
		avail = nc_txc_avail(&nsk->txc);
		seq = nsk->txc.nxt;	/* only senders, under lock_sock, move it */
		spin_unlock(&nsk->lock);

		if (READ_ONCE(sk->sk_err)) {
			err = sock_error(sk);
			break;
		}
		if (shut || state != TCP_ESTABLISHED) {
			err = nsk->peer || shut ? -EPIPE : -ENOTCONN;
			break;
		}
		if (!avail || !nc_tx_room(nsk)) {
			bool capped = nc_rtx_full(nsk);
			long slice = timeo, left;

			err = nc_tx_full(sock, timeo);
			if (capped) {
				/* waiting for the peer's ACK: ask for it */
				NC_INC(rtx_capped);
				nc_tx_probe(nsk);
				/* and again, if no answer comes (nc_tx_probe()) */
				slice = min_t(long, timeo,
					      msecs_to_jiffies(NC_PROBE_AGAIN_MS) + 1);
			}
			if (err)
				break;
			left = slice;
			nc_wait(sk, &left,
				(nc_txc_avail(&nsk->txc) && nc_tx_room(nsk)) ||
				READ_ONCE(sk->sk_err) ||
				READ_ONCE(sk->sk_state) != TCP_ESTABLISHED ||
				(READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN));
			if (timeo != MAX_SCHEDULE_TIMEOUT)
				timeo -= slice - left;
			continue;
		}
		n = (u32)min_t(size_t, len - copied, avail);
		n = min_t(u32, n, NC_TX_MAX_PAYLOAD);
		h.type = NC_T_DATA;
		nc_tx_class(nsk);
		h.flags = nsk->tx_latency ? NC_F_LATENCY : 0;
		h.sport = nsk->lport;
		h.dport = nsk->rport;
		h.conn_id = nsk->conn_id;
		h.len = n;
		h.seq = seq;
		f = nc_txframe_alloc(&h, sk->sk_allocation);
		if (!f) {
			err = -ENOMEM;
			break;
		}
		if (!nc_tx_charge(nsk, f->truesize)) {
			long vm = min_t(long, timeo, HZ / 5 + 1), left = vm;
			int charged = nsk->tx_charged;

			kfree(f);
			/* out of memory: wait for a frame to leave, or a while */
			err = nc_tx_full(sock, timeo);
			/* memory kept for the peer's ACK may be what is missing */
			nc_tx_probe(nsk);
			if (err)
				break;
			nc_wait(sk, &left,
				atomic_read(&nsk->tx_truesize) < charged ||
				READ_ONCE(sk->sk_err) ||
				READ_ONCE(sk->sk_state) != TCP_ESTABLISHED);
			if (timeo != MAX_SCHEDULE_TIMEOUT)
				timeo -= vm - left;
			continue;
		}
		if (copy_from_iter(f->buf + f->len - n, n, &msg->msg_iter) != n) {
			atomic_sub((int)f->truesize, &nsk->tx_truesize);
			kfree(f);
			nc_tx_uncharge(nsk);
			err = -EFAULT;
			break;
		}
		spin_lock(&nsk->lock);
		nc_txc_consume(&nsk->txc, n);
		spin_unlock(&nsk->lock);
		sock_hold(sk);
		f->owner = sk;
		ch = nc_tx_chan(nsk, &gen, n);
		if (ch)
			f->flow = &nsk->txfl[ch->idx];
		/*
		 * Kept until the peer acknowledges it, if it does: a second
		 * reference, on the retransmit list, with the socket held
		 * (nc_rtx_full() kept the list within its range).  With no
		 * channel up it is kept as an orphan, for nc_rtx_work().
		 */
		f->rtx.seq = seq;
		f->rtx.len = n;
		f->rtx.gen = gen;
		spin_lock(&nsk->lock);
		keep = nsk->rtx_on && sk->sk_state == TCP_ESTABLISHED &&
		       !WARN_ON_ONCE(nc_rtx_sent(&nsk->rtx, &f->rtx,
						 ch ? (int)ch->idx : NC_CHAN_NONE));
		if (keep) {
			refcount_inc(&f->ref);
			sock_hold(sk);
			f->kept = true;
		}
		spin_unlock(&nsk->lock);
		atomic_add((int)n, &nsk->tx_payload);
		atomic_add((int)f->len, &nsk->tx_queued);
		err = ch ? nc_chan_xmit(ch, &gen, f) : -ECONNRESET;
		if (err && keep) {
			/* the channel went: sent again over one that is up */
			nc_rtx_orphan(nsk, f);
			nc_txframe_done(f);
			nc_rtx_kick(nsk, 0);
			err = 0;
		} else if (err) {
			nc_txframe_done(f);
			/* the peer may wait for DATA on a lost channel */
			nc_conn_fail(nsk, ECONNRESET, true);
			err = -ECONNRESET;
			break;
		}
		copied += n;
	}
	release_sock(sk);
	if (copied)
		return (int)copied;
	if (err == -EPIPE)
		return sk_stream_error(sk, msg->msg_flags, err);
	return err;
}

/* recvmsg's wake-up condition: data, EOF, an error or a state change */
static bool nc_recv_ready(struct nc_sock *nsk, size_t peek_off, int state)
{
	struct sock *sk = nc_to_sk(nsk);

	return READ_ONCE(nsk->rxq_bytes) > peek_off ||
	       READ_ONCE(nsk->peer_fin) || READ_ONCE(sk->sk_err) ||
	       READ_ONCE(sk->sk_state) != state ||
	       (READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN);
}

static int nc_recvmsg(struct socket *sock, struct msghdr *msg, size_t len,
		      int flags)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	bool peek = flags & MSG_PEEK;
	size_t copied = 0, target, peek_off = 0;
	long timeo;
	int err = 0;

	if (flags & MSG_OOB)
		return -EOPNOTSUPP;
	lock_sock(sk);
	if (sk->sk_state == TCP_LISTEN) {
		err = -ENOTCONN;
		goto out;
	}
	timeo = sock_rcvtimeo(sk, flags & MSG_DONTWAIT);
	target = (flags & MSG_WAITALL) ? len : 1;

	while (copied < len) {
		struct nc_chunk *c = NULL, *it;
		bool fin, grant = false, done = false;
		u32 off = 0, end = 0, n, credit = 0, prev = 0;
		size_t skip = peek_off;
		int state;

		spin_lock(&nsk->lock);
		list_for_each_entry(it, &nsk->rxq, list) {
			u32 avail = it->len - it->off;

			if (skip < avail) {
				c = it;
				off = it->off + (u32)skip;
				end = it->len;	/* the last chunk may grow */
				break;
			}
			skip -= avail;
		}
		fin = nsk->peer_fin;
		state = sk->sk_state;
		spin_unlock(&nsk->lock);

		if (c) {
			n = (u32)min_t(size_t, end - off, len - copied);
			if (copy_to_iter(c->data + off, n, &msg->msg_iter) != n) {
				err = -EFAULT;
				break;
			}
			copied += n;
			if (peek) {
				peek_off += n;
				continue;
			}
			spin_lock(&nsk->lock);
			c->off += n;
			WRITE_ONCE(nsk->rxq_bytes, nsk->rxq_bytes - n);
			if (c->off == c->len) {
				list_del(&c->list);
				done = true;
			}
			grant = nc_rx_consumed(nsk, n, true, true, &credit,
					       &prev);
			spin_unlock(&nsk->lock);
			if (done)
				kvfree(c);
			if (grant)
				nc_send_credit_owner(nsk, credit, prev);
			continue;
		}
		if (copied >= target)
			break;
		/*
		 * The peer's CLOSE before its RESET's error (EPIPE, see the
		 * RESET in nc_incoming.c), as tcp_recvmsg() puts SOCK_DONE
		 * first: all its data came, so the reader gets its EOF and a
		 * write the error.  Any other error wins: a CLOSE can still
		 * be handled after the connection failed otherwise (a lost
		 * channel), and that failure lost data.
		 */
		if (fin && (!READ_ONCE(sk->sk_err) || READ_ONCE(sk->sk_err) == EPIPE))
			break;
		if (READ_ONCE(sk->sk_err)) {
			err = sock_error(sk);
			break;
		}
		if (sk->sk_shutdown & RCV_SHUTDOWN)
			break;
		/* still connecting: wait (or EAGAIN) as for an empty queue */
		if (state != TCP_ESTABLISHED && state != TCP_SYN_SENT) {
			if (!nsk->peer)
				err = -ENOTCONN;
			break;
		}
		if (!timeo) {
			err = -EAGAIN;
			break;
		}
		if (signal_pending(current)) {
			err = sock_intr_errno(timeo);
			break;
		}
		nc_wait(sk, &timeo, nc_recv_ready(nsk, peek_off, state));
	}
	if (READ_ONCE(nsk->mem_short))
		nc_mem_room(nsk);	/* the cgroup said no: for the next grant */
out:
	release_sock(sk);
	return copied ? (int)copied : err;
}

static __poll_t nc_poll(struct file *file, struct socket *sock,
			poll_table *wait)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	__poll_t mask = 0;
	int state;
	u8 shut;

	sock_poll_wait(file, sock, wait);
	state = READ_ONCE(sk->sk_state);
	if (state == TCP_LISTEN)
		return list_empty_careful(&nsk->acceptq) ? 0 :
		       EPOLLIN | EPOLLRDNORM;

	shut = READ_ONCE(sk->sk_shutdown);
	if (READ_ONCE(sk->sk_err))
		mask |= EPOLLERR;
	if (shut == SHUTDOWN_MASK || state == TCP_CLOSE)
		mask |= EPOLLHUP;
	if (READ_ONCE(nsk->rxq_bytes))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (READ_ONCE(nsk->peer_fin) || (shut & RCV_SHUTDOWN))
		mask |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
	if (state == TCP_ESTABLISHED) {
		/* like tcp_poll(): a shut writer is "writable" to see EPIPE */
		bool room = nc_tx_room(nsk);

		if (!room && !(shut & SEND_SHUTDOWN)) {
			/* ask nc_write_space() for a wake-up, then look again */
			set_bit(SOCK_NOSPACE, &sock->flags);
			/* bit before the re-check; pairs with nc_txframe_done() */
			smp_mb__after_atomic();
			room = nc_tx_room(nsk);
		}
		if ((shut & SEND_SHUTDOWN) ||
		    (nc_txc_avail(&nsk->txc) && room))
			mask |= EPOLLOUT | EPOLLWRNORM;
	} else if (state != TCP_SYN_SENT) {
		mask |= EPOLLOUT | EPOLLWRNORM;
	}
	return mask;
}

static int nc_shutdown(struct socket *sock, int how)
{
	struct sock *sk = sock->sk;
	struct nc_sock *nsk = nc_sk(sk);
	bool send_fin = false;
	int err = 0;

	how++;	/* SHUT_RD -> RCV_SHUTDOWN, SHUT_WR -> SEND_SHUTDOWN */
	if ((how & ~SHUTDOWN_MASK) || !how)
		return -EINVAL;
	lock_sock(sk);
	if (sk->sk_state == TCP_LISTEN && (how & RCV_SHUTDOWN)) {
		/*
		 * like TCP: wakes accept(), stops listening and resets the
		 * children nobody accepted (each holds a module reference)
		 */
		LIST_HEAD(children);

		spin_lock(&nsk->lock);
		WRITE_ONCE(sk->sk_state, TCP_CLOSE);
		list_splice_init(&nsk->acceptq, &children);
		WRITE_ONCE(nsk->acceptq_len, 0);
		spin_unlock(&nsk->lock);
		nc_unhash(nsk);
		nc_destroy_children(&children);
		nc_wake(sk, NC_WAKE_ALL);
		goto out;
	}
	if (sk->sk_state != TCP_ESTABLISHED && sk->sk_state != TCP_SYN_SENT &&
	    !nsk->peer) {
		err = -ENOTCONN;
		goto out;
	}
	spin_lock(&nsk->lock);
	WRITE_ONCE(sk->sk_shutdown, sk->sk_shutdown | how);
	if ((how & SEND_SHUTDOWN) && !nsk->fin_sent &&
	    sk->sk_state == TCP_ESTABLISHED) {
		nsk->fin_sent = true;
		send_fin = true;
	}
	spin_unlock(&nsk->lock);
	if (send_fin)
		nc_send(nsk, NC_T_CLOSE, 0);
	if (how & RCV_SHUTDOWN) {
		u32 dropped = nc_rxq_purge(nsk, false), credit = 0, prev = 0;
		bool grant = false;

		/* dropped data counts as consumed: keep the sender moving */
		spin_lock(&nsk->lock);
		if (dropped)
			grant = nc_rx_consumed(nsk, dropped, false, true,
					       &credit, &prev);
		spin_unlock(&nsk->lock);
		if (grant)
			nc_send_credit_owner(nsk, credit, prev);
	}
	nc_wake(sk, NC_WAKE_ALL);
out:
	release_sock(sk);
	return err;
}

static void nc_close(struct sock *sk, long timeout)
{
	struct nc_sock *nsk = nc_sk(sk);
	LIST_HEAD(children);
	LIST_HEAD(kept);
	struct nc_ctl d;
	bool ack, lost;
	u32 aseq;
	int state;

	lock_sock(sk);
	spin_lock(&nsk->lock);
	state = sk->sk_state;
	if (state == TCP_LISTEN) {
		list_splice_init(&nsk->acceptq, &children);
		WRITE_ONCE(nsk->acceptq_len, 0);
	}
	WRITE_ONCE(sk->sk_state, TCP_CLOSE);
	/*
	 * DATA that a lost channel took and that waits to be sent again
	 * (or a limit or CLOSE to send again) would be missing at the peer
	 * behind a clean CLOSE, and its reader would wait for ever: abort.
	 */
	lost = state == TCP_ESTABLISHED && nsk->rtx_on &&
	       (nsk->rtx.orphans || nsk->rtx_waiting || nsk->rtx_resync ||
		delayed_work_pending(&nsk->rtx_work));
	/*
	 * DATA kept for the peer's ACK goes: nothing would send it again
	 * once the socket is closed (the frames hold it).
	 */
	nc_rtx_drop_locked(nsk, &kept);
	/* what came and is not acknowledged: now, not by the delayed ACK */
	ack = state == TCP_ESTABLISHED && nc_ack_pending(nsk, &aseq);
	nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);
	nc_rtx_put_list(&kept);
	/* which would hold the socket (and rmmod) 40 ms more */
	if (cancel_delayed_work(&nsk->ack_work))
		sock_put(sk);	/* the work's reference; close() holds its own */
	if (cancel_delayed_work(&nsk->rtx_work))
		sock_put(sk);	/* nothing is kept to send again */
	if (ack)
		nc_send_ack(&d, aseq, false, 0);

	if (state == TCP_CLOSE) {
		/* a failed connection's DATA waiting for a turn: nobody wants it */
		nc_chan_drop_flows(nsk->txfl, ARRAY_SIZE(nsk->txfl));
	} else if (state == TCP_SYN_SENT) {
		nc_send(nsk, NC_T_RESET, 0);
	} else if (state == TCP_ESTABLISHED) {
		/*
		 * Unread data, or SO_LINGER on with a zero time (how programs
		 * ask for an abortive close) while the connection is not
		 * already closed both ways (TCP's socket would be in
		 * TIME_WAIT then, and resets nothing): abort like TCP does,
		 * which discards what it has not sent (DATA waiting for its
		 * turn; the RESET would pass it); otherwise a clean FIN.
		 */
		bool linger0 = sock_flag(sk, SOCK_LINGER) && !sk->sk_lingertime &&
			       !(nsk->fin_sent && READ_ONCE(nsk->peer_fin));

		if (READ_ONCE(nsk->rxq_bytes) || READ_ONCE(nsk->ro.bytes) ||
		    linger0 || lost) {
			nc_chan_drop_flows(nsk->txfl, ARRAY_SIZE(nsk->txfl));
			nc_send(nsk, NC_T_RESET, 0);
		} else if (!nsk->fin_sent) {
			nc_send(nsk, NC_T_CLOSE, 0);
		}
	}
	nc_unhash(nsk);
	nc_port_put(nsk);
	nc_rxq_purge(nsk, true);
	nc_destroy_children(&children);
	WRITE_ONCE(sk->sk_shutdown, SHUTDOWN_MASK);
	sock_orphan(sk);
	release_sock(sk);
	sock_put(sk);
}

static int nc_setsockopt(struct socket *sock, int level, int optname,
			 sockptr_t optval, unsigned int optlen)
{
	if (level == SOL_TCP) {
		switch (optname) {
		case TCP_NODELAY:
		case TCP_CORK:
		case TCP_QUICKACK:
		case TCP_KEEPIDLE:
		case TCP_KEEPINTVL:
		case TCP_KEEPCNT:
		case TCP_USER_TIMEOUT:
		case TCP_CONGESTION:
		case TCP_MAXSEG:
		case TCP_NOTSENT_LOWAT:
			/* accepted so TCP programs work; the channels decide */
			return 0;
		}
		return -ENOPROTOOPT;
	}
	if (level == SOL_IP && optname == IP_TOS)
		return 0;
	return -ENOPROTOOPT;
}

/*
 * TCP_MAXSEG: the segment size of the channel the connection sends on (the
 * data travels in that TCP connection's segments); TCP's default of 536
 * while there is no channel, as TCP answers before it knows the path.
 */
static u32 nc_sock_mss(struct sock *sk)
{
	struct nc_chan *ch = READ_ONCE(nc_sk(sk)->txch);
	u32 mss = 0;

	if (ch && READ_ONCE(nc_sk(sk)->peer)) {
		spin_lock(&ch->lock);
		if (ch->state == NC_CH_UP && ch->sock)
			mss = READ_ONCE(tcp_sk(ch->sock->sk)->mss_cache);
		spin_unlock(&ch->lock);
	}
	return mss ? mss : TCP_MSS_DEFAULT;
}

/*
 * TCP_INFO for programs that report it (iperf3 reads it after every run and
 * does not check the result): the state and segment size are ours; the
 * retransmission and RTT fields stay zero because a virtual socket has none
 * of its own (the channel's TCP connection does that work).
 */
static void nc_fill_tcp_info(struct sock *sk, struct tcp_info *info)
{
	u32 mss = nc_sock_mss(sk);

	memset(info, 0, sizeof(*info));
	info->tcpi_state = READ_ONCE(sk->sk_state);
	info->tcpi_snd_mss = mss;
	info->tcpi_rcv_mss = mss;
}

static int nc_getsockopt(struct socket *sock, int level, int optname,
			 char __user *optval, int __user *optlen)
{
	struct tcp_info info;
	const void *src = &info;
	int len, val, size = sizeof(val);

	if (level != SOL_TCP)
		return -ENOPROTOOPT;
	switch (optname) {
	case TCP_NODELAY:
		val = 1;
		src = &val;
		break;
	case TCP_MAXSEG:
		val = (int)nc_sock_mss(sock->sk);
		src = &val;
		break;
	case TCP_INFO:
		nc_fill_tcp_info(sock->sk, &info);
		size = sizeof(info);
		break;
	default:
		return -ENOPROTOOPT;
	}
	if (get_user(len, optlen))
		return -EFAULT;
	if (len < 0)
		return -EINVAL;
	len = min_t(int, len, size);
	if (put_user(len, optlen) || copy_to_user(optval, src, len))
		return -EFAULT;
	return 0;
}

/*
 * SIOCINQ: bytes received and not read.  SIOCOUTQ and SIOCOUTQNSD: bytes
 * written whose frames a channel has not yet handed whole to its TCP
 * socket; from there the channel delivers them whatever this socket does
 * (unless the channel itself fails: no retransmission yet), so a program
 * that waits for 0 before close() has nothing left in NetChannel.  A
 * listener has no queues: -EINVAL, as TCP.
 */
static int nc_ioctl(struct socket *sock, unsigned int cmd, unsigned long arg)
{
	struct nc_sock *nsk = nc_sk(sock->sk);
	int val;

	switch (cmd) {
	case SIOCINQ:
	case SIOCOUTQ:
	case SIOCOUTQNSD:
		if (READ_ONCE(sock->sk->sk_state) == TCP_LISTEN)
			return -EINVAL;
		val = cmd == SIOCINQ ? (int)READ_ONCE(nsk->rxq_bytes) :
				       atomic_read(&nsk->tx_payload);
		break;
	default:
		return -ENOIOCTLCMD;
	}
	return put_user(val, (int __user *)arg);
}

static const struct proto_ops nc_proto_ops = {
	.family		= PF_INET,
	.owner		= THIS_MODULE,
	.release	= inet_release,
	.bind		= nc_bind,
	.connect	= nc_connect,
	.socketpair	= sock_no_socketpair,
	.accept		= nc_accept_op,
	.getname	= inet_getname,
	.poll		= nc_poll,
	.ioctl		= nc_ioctl,
	.listen		= nc_listen,
	.shutdown	= nc_shutdown,
	.setsockopt	= nc_setsockopt,
	.getsockopt	= nc_getsockopt,
	.sendmsg	= nc_sendmsg,
	.recvmsg	= nc_recvmsg,
	.mmap		= sock_no_mmap,
#if NC_HAS_SENDPAGE
	.sendpage	= sock_no_sendpage,
#endif
};

static struct proto nc_prot = {
	.name		= "NETCHANNEL",
	.owner		= THIS_MODULE,
	.close		= nc_close,
	.init		= nc_sk_init,
	.unhash		= nc_sk_unhash,
	.obj_size	= sizeof(struct nc_sock),
	/*
	 * nc_lookup() walks the table under RCU: a socket's memory stays a
	 * struct nc_sock for as long as a walk may stand on it (reused for
	 * another one, never returned to the page allocator meanwhile), as
	 * TCP's sockets do.  Not SOCK_RCU_FREE: the module reference a socket
	 * holds would then outlive its close() by a grace period, and an
	 * rmmod right after the last close would fail with EAGAIN.
	 */
	.slab_flags	= SLAB_TYPESAFE_BY_RCU,
	.enter_memory_pressure	= nc_enter_memory_pressure,
	.leave_memory_pressure	= nc_leave_memory_pressure,
	.memory_allocated	= &nc_memory_allocated,
	.per_cpu_fw_alloc	= &nc_memory_fw_alloc,
	.sockets_allocated	= &nc_sockets_allocated,
	.memory_pressure	= &nc_memory_pressure,
	.sysctl_mem		= nc_mem,
	.sysctl_rmem		= &nc_rmem_min,
	.sysctl_wmem		= &nc_wmem_min,
	.release_cb		= nc_release_cb,
};

static struct inet_protosw nc_protosw_stream = {
	.type		= SOCK_STREAM,
	.protocol	= IPPROTO_VIRTUAL_SOCK,
	.prot		= &nc_prot,
	.ops		= &nc_proto_ops,
	.flags		= 0,
};

static struct inet_protosw nc_protosw_dgram = {
	.type		= SOCK_DGRAM,
	.protocol	= IPPROTO_VIRTUAL_SOCK,
	.prot		= &nc_prot,
	.ops		= &nc_proto_ops,
	.flags		= 0,
};

static bool nc_proto_registered, nc_stream_registered, nc_dgram_registered;

int nc_sock_init(void)
{
	int err;

	nc_socktab_init();
	err = nc_mem_init();
	if (err)
		return err;
	err = proto_register(&nc_prot, 1);
	if (err) {
		nc_mem_exit();
		return err;
	}
	nc_proto_registered = true;
	inet_register_protosw(&nc_protosw_stream);
	nc_stream_registered = true;
	inet_register_protosw(&nc_protosw_dgram);
	nc_dgram_registered = true;
	return 0;
}

void nc_sock_exit(void)
{
	if (nc_dgram_registered)
		inet_unregister_protosw(&nc_protosw_dgram);
	if (nc_stream_registered)
		inet_unregister_protosw(&nc_protosw_stream);
	if (nc_proto_registered) {
		proto_unregister(&nc_prot);
		nc_mem_exit();
	}
	nc_dgram_registered = false;
	nc_stream_registered = false;
	nc_proto_registered = false;
	nc_socktab_exit();
}

void nc_sock_seq_show(struct seq_file *m)
{
	nc_socktab_seq_show(m);
	nc_mem_seq_show(m);
}
