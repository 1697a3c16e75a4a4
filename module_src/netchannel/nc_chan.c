// SPDX-License-Identifier: GPL-2.0
/*
 * nc_chan.c - NetChannel channels: long-lived kernel TCP connections
 * between hosts that carry the framed virtual-socket traffic.
 *
 * Each host opens, for every peer in the host table (itself included),
 * "bulk" + "lat" outbound channels and only ever sends on those.  It
 * receives on the channels its peers opened to its listener.  So both
 * directions of a peer pair are independent, and a host whose peers are
 * not up yet simply keeps retrying with exponential backoff.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/net.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/seq_file.h>
#include <linux/sched/signal.h>
#include <net/tcp.h>

#include "nc_impl.h"
#include "nc_stripe.h"

#define NC_RXBUF_SIZE		(64 * 1024)
#define NC_RX_BUDGET		(512 * 1024)
#define NC_TX_BUDGET		(1024 * 1024)
#define NC_TX_BATCH		16	/* frames per kernel_sendmsg() */
/*
 * DATA joins txq from the turns (nc_chan_refill()) while txq holds less
 * than this: two full frames at most, so a connection whose turn comes
 * next waits behind that much, not behind every frame of the one before.
 */
#define NC_TX_READY_BYTES	65536u
/* A turn: one frame of the largest size (see struct nc_drr) */
#define NC_DRR_QUANTUM		(NC_TX_MAX_PAYLOAD + NC_HDR_MAX)
#define NC_LISTEN_BACKLOG	128

struct nc_peer *nc_peers;
u32 nc_npeers;

static struct socket *nc_lsock;
static struct work_struct nc_accept_work;
static void (*nc_lsock_saved_data_ready)(struct sock *sk);
static LIST_HEAD(nc_rx_list);
static DEFINE_SPINLOCK(nc_rx_lock);
static u64 nc_rx_next_id = 1;
static bool nc_rx_stopping;

static const char *const nc_ch_state_names[] = {
	[NC_CH_IDLE]		= "idle",
	[NC_CH_CONNECTING]	= "connecting",
	[NC_CH_UP]		= "up",
	[NC_CH_BACKOFF]		= "backoff",
	[NC_CH_STOPPED]		= "stopped",
};

static void nc_sin(struct sockaddr_in *sin, u32 ip, u16 port)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(ip);
	sin->sin_port = htons(port);
}

struct nc_peer *nc_peer_find(u32 ip)
{
	/* pairs with the release in nc_chan_init: the arrays exist */
	u32 i, n = smp_load_acquire(&nc_npeers);

	/* The whole of 127.0.0.0/8 reaches the local host. */
	if ((ip >> 24) == 127)
		ip = nc_cfg.local_ip;
	for (i = 0; i < n; i++)
		if (nc_peers[i].ip == ip)
			return &nc_peers[i];
	return NULL;
}

struct nc_chan *nc_peer_pick_chan(struct nc_peer *peer, bool latency,
				  u16 lport, u16 rport)
{
	u32 base, n = nc_peer_class(latency, &base);

	return &peer->chans[base + nc_stripe_home(lport, rport, n)];
}

/* A frame of len bytes (buf left to the caller): one reference, no owner. */
static struct nc_txframe *nc_txframe_new(u32 len, bool charged, gfp_t gfp)
{
	struct nc_txframe *f;
	size_t size = struct_size(f, buf, len);

	f = kmalloc(size, gfp);
	if (!f)
		return NULL;
	f->truesize = (u32)kmalloc_size_roundup(size);
	refcount_set(&f->ref, 1);
	f->kept = false;
	f->in_mem = false;
	f->owner = NULL;
	f->flow = NULL;
	f->rst_reply = false;
	f->charged = charged;
	f->len = len;
	f->sent = 0;
	return f;
}

/*
 * A frame in the data path's wire version: the header written, room for
 * h->len payload bytes after it (at f->buf + f->len - h->len).
 */
struct nc_txframe *nc_txframe_alloc(const struct nc_hdr *h, gfp_t gfp)
{
	struct nc_hdr v = *h;
	struct nc_txframe *f;
	u32 hlen;

	v.version = NC_DP_VERSION;
	hlen = nc_hdr_len(v.version, v.type);
	if (WARN_ON_ONCE(!hlen))
		return NULL;
	f = nc_txframe_new(hlen + h->len, true, gfp);
	if (f)
		nc_hdr_encode_v(&v, f->buf, hlen);
	return f;
}

/*
 * A copy of a DATA frame to send again (the original stays on its
 * retransmit list, and a dead channel's worker may still read it): the
 * same bytes with NC_F_RTX set, no owner, not charged, one reference.
 */
struct nc_txframe *nc_txframe_copy(const struct nc_txframe *f, gfp_t gfp)
{
	struct nc_txframe *c = nc_txframe_new(f->len, false, gfp);

	if (!c)
		return NULL;
	memcpy(c->buf, f->buf, f->len);
	/* flags: big-endian at byte 4 (nc_wire.h); RTX is in the low byte */
	BUILD_BUG_ON(NC_F_RTX > 0xff);
	c->buf[5] |= NC_F_RTX;
	return c;
}

static u32 nc_txframe_qlen(const struct list_head *item)
{
	return list_entry(item, struct nc_txframe, list)->len;
}

/* At the end of txq (ch->lock held). */
static void nc_txq_add(struct nc_chan *ch, struct nc_txframe *f)
{
	list_add_tail(&f->list, &ch->txq);
	ch->rdy_len++;
	ch->rdy_bytes += f->len;
	ch->txq_len++;
	ch->txq_bytes += f->len;
}

/*
 * Queue a frame (ch->lock held): DATA waits for its connection's turn
 * (net.netchannel.drr), control frames go straight to txq (a RESET may
 * so pass its connection's DATA: close() drops that DATA first, see
 * nc_chan_drop_flows(); the peer answers any other with a RESET).  While
 * any flow is busy on the channel every DATA frame takes turns, whatever
 * the sysctl says now: DATA put straight on txq would go before all of
 * theirs.  A flow busy on another channel (its socket connected again
 * while its old frames waited there; connect() drops those) is not ours
 * to take: the frame goes to txq.  Only the socket's sender (under
 * lock_sock()) makes a flow busy, so one seen idle stays free for us.
 */
static void nc_chan_enqueue(struct nc_chan *ch, struct nc_txframe *f)
{
	struct nc_drr_flow *fl = f->flow;
	struct nc_drr *on;

	if (fl) {
		/* pairs with the release in nc_drr_idle() */
		on = smp_load_acquire(&fl->on);
		if ((on == &ch->drr ||
		     (!on && (READ_ONCE(nc_tun.drr) || ch->drr.flows))) &&
		    !nc_drr_enqueue(&ch->drr, fl, &f->list)) {
			ch->txq_len++;
			ch->txq_bytes += f->len;
			return;
		}
	}
	nc_txq_add(ch, f);
}

/* DATA whose turn came joins txq, while txq holds little (ch->lock held). */
static void nc_chan_refill(struct nc_chan *ch)
{
	struct list_head *it;

	while (ch->rdy_len < NC_TX_BATCH && ch->rdy_bytes < NC_TX_READY_BYTES &&
	       (it = nc_drr_dequeue(&ch->drr))) {
		list_add_tail(it, &ch->txq);
		ch->rdy_len++;
		ch->rdy_bytes += nc_txframe_qlen(it);
	}
}

/*
 * Drop the DATA of these flows (a socket's, n of them, indexed as the
 * channels of a peer) that still waits for its turn on any channel.  By
 * the flows' sender, under lock_sock(): a flow seen idle stays idle.
 */
void nc_chan_drop_flows(struct nc_drr_flow *fl, u32 n)
{
	struct nc_txframe *f, *tmp;
	LIST_HEAD(dropped);
	u32 i;

	for (i = 0; i < n; i++) {
		/* pairs with the release in nc_drr_idle() */
		struct nc_drr *on = smp_load_acquire(&fl[i].on);
		struct nc_chan *ch;
		LIST_HEAD(q);

		if (!on)
			continue;
		ch = container_of(on, struct nc_chan, drr);
		spin_lock(&ch->lock);
		nc_drr_flow_purge(on, &fl[i], &q);
		list_for_each_entry(f, &q, list) {
			ch->txq_len--;
			ch->txq_bytes -= f->len;
		}
		spin_unlock(&ch->lock);
		list_splice_tail(&q, &dropped);
	}
	list_for_each_entry_safe(f, tmp, &dropped, list) {
		list_del(&f->list);
		nc_txframe_done(f);
	}
}

/* Every queued frame to q, the queues empty (ch->lock held). */
static void nc_chan_take_queues(struct nc_chan *ch, struct list_head *q)
{
	list_splice_init(&ch->txq, q);
	nc_drr_purge(&ch->drr, q);
	ch->rdy_len = 0;
	ch->rdy_bytes = 0;
	ch->txq_len = 0;
	ch->txq_bytes = 0;
	ch->rst_queued = 0;
}

/*
 * Queue a frame; with gen != NULL only if the channel is still that
 * incarnation.  On error the caller still owns f.
 */
int nc_chan_xmit(struct nc_chan *ch, const u32 *gen, struct nc_txframe *f)
{
	spin_lock(&ch->lock);
	if (ch->state != NC_CH_UP || (gen && ch->gen != *gen)) {
		spin_unlock(&ch->lock);
		return -ECONNRESET;
	}
	nc_chan_enqueue(ch, f);
	spin_unlock(&ch->lock);
	queue_work_on(ch->cpu, ch->wq, &ch->tx_work);
	return 0;
}

int nc_send_ctrl(struct nc_chan *ch, const u32 *gen, u8 type, u16 flags,
		 u16 sport, u16 dport, u32 conn_id, u32 credit, u32 ext)
{
	struct nc_hdr h = {
		.type = type, .flags = flags, .sport = sport, .dport = dport,
		.conn_id = conn_id, .len = 0, .credit = credit,
	};
	struct nc_txframe *f;
	int err;

	nc_hdr_ext_set(&h, ext);
	f = nc_txframe_alloc(&h, GFP_KERNEL);
	if (!f)
		return -ENOMEM;
	err = nc_chan_xmit(ch, gen, f);
	if (err)
		kfree(f);
	return err;
}

/*
 * A RESET answering a peer's frame: -ENOBUFS, and not queued, while the
 * channel holds NC_RST_TXQ_MAX such replies already.
 */
int nc_send_rst_reply(struct nc_chan *ch, u16 flags, u16 sport, u16 dport,
		      u32 conn_id)
{
	struct nc_hdr h = {
		.type = NC_T_RESET, .flags = flags, .sport = sport,
		.dport = dport, .conn_id = conn_id,
	};
	struct nc_txframe *f = nc_txframe_alloc(&h, GFP_KERNEL);
	int err = 0;

	if (!f)
		return -ENOMEM;
	f->rst_reply = true;
	spin_lock(&ch->lock);
	if (ch->state != NC_CH_UP) {
		err = -ECONNRESET;
	} else if (ch->rst_queued >= NC_RST_TXQ_MAX) {
		err = -ENOBUFS;
	} else {
		nc_txq_add(ch, f);
		ch->rst_queued++;
	}
	spin_unlock(&ch->lock);
	if (err) {
		kfree(f);
		return err;
	}
	queue_work_on(ch->cpu, ch->wq, &ch->tx_work);
	return 0;
}

/* Wait until the channel is up; returns 0 and its generation. */
int nc_chan_wait_up(struct nc_chan *ch, u32 *gen, long timeout)
{
	long ret;

	ret = wait_event_interruptible_timeout(ch->up_wait,
					       READ_ONCE(ch->state) == NC_CH_UP,
					       timeout);
	if (ret < 0)
		return (int)ret;
	spin_lock(&ch->lock);
	if (ch->state != NC_CH_UP) {
		spin_unlock(&ch->lock);
		return -EHOSTUNREACH;
	}
	*gen = ch->gen;
	spin_unlock(&ch->lock);
	return 0;
}

/*
 * The channel a new connection sends on: the one its ports hash to if it
 * is up, else the next one of the same class that is up.  Waits up to
 * timeout for any of them: woken by the hashed channel, it looks at the
 * others every 100 ms.  ERR_PTR(-EHOSTUNREACH) if none came up.
 */
struct nc_chan *nc_peer_chan_up(struct nc_peer *peer, bool latency,
				u16 lport, u16 rport, u32 *gen, long timeout)
{
	struct nc_chan *first = nc_peer_pick_chan(peer, latency, lport, rport);
	u32 base, n = nc_peer_class(latency, &base);
	u32 start = (u32)(first - peer->chans) - base, i;
	unsigned long end = jiffies + timeout;
	long left, ret;

	for (;;) {
		for (i = 0; i < n; i++) {
			struct nc_chan *ch = &peer->chans[base + (start + i) % n];

			if (READ_ONCE(ch->state) == NC_CH_UP &&
			    !nc_chan_wait_up(ch, gen, 0))
				return ch;
		}
		left = (long)(end - jiffies);
		if (timeout <= 0 || left <= 0)
			return ERR_PTR(-EHOSTUNREACH);
		ret = wait_event_interruptible_timeout(first->up_wait,
						       READ_ONCE(first->state) == NC_CH_UP,
						       min_t(long, left, max(HZ / 10, 1)));
		if (ret < 0)
			return ERR_PTR(ret);
	}
}

u32 nc_peer_class(bool latency, u32 *base)
{
	if (latency && nc_cfg.lat) {
		*base = nc_cfg.bulk;
		return nc_cfg.lat;
	}
	*base = 0;
	return nc_cfg.bulk;
}

/* bytes the channel's TCP socket holds and has not sent yet */
static u32 nc_tcp_notsent(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);

	return READ_ONCE(tp->write_seq) - READ_ONCE(tp->snd_nxt);
}

/*
 * Every channel of the peer as it is now (up, incarnation, bytes queued
 * here and in TCP), indexed as peer->chans, at most max; how many.
 */
u32 nc_peer_load(struct nc_peer *peer, struct nc_stripe_load *ld, u32 max)
{
	u32 i, n = min(peer->nchans, max);

	for (i = 0; i < n; i++) {
		struct nc_chan *ch = &peer->chans[i];

		spin_lock(&ch->lock);
		ld[i].up = ch->state == NC_CH_UP && ch->sock;
		ld[i].gen = ch->gen;
		ld[i].queued = ch->txq_bytes;
		ld[i].notsent = ld[i].up ? nc_tcp_notsent(ch->sock->sk) : 0;
		spin_unlock(&ch->lock);
	}
	return n;
}

/*
 * The channel for a striping connection's next DATA frame, and its
 * generation: nc_stripe_pick() over the channels of the class, each
 * loaded by the bytes queued on it here and those its TCP socket has not
 * sent.  While the connection has one frame waiting it stays where it
 * was (no need to look at the others).  NULL if no channel of the class
 * is up.
 */
struct nc_chan *nc_peer_stripe(struct nc_peer *peer, bool latency,
			       struct nc_stripe *st, u32 queued_frames,
			       u32 *gen)
{
	struct nc_stripe_load ld[NC_MAX_CLASS_CHANNELS] = { };
	u32 base, n = nc_peer_class(latency, &base), i;
	struct nc_chan *ch;
	int pick = st->cur;

	if (queued_frames > 1 || pick < 0 || (u32)pick >= n ||
	    READ_ONCE(peer->chans[base + pick].state) != NC_CH_UP) {
		for (i = 0; i < n; i++) {
			ch = &peer->chans[base + i];
			spin_lock(&ch->lock);
			ld[i].up = ch->state == NC_CH_UP && ch->sock;
			ld[i].queued = ch->txq_bytes;
			if (ld[i].up)
				ld[i].notsent = nc_tcp_notsent(ch->sock->sk);
			spin_unlock(&ch->lock);
		}
		pick = nc_stripe_pick(st, ld, n, queued_frames);
		if (pick < 0)
			return NULL;
	}
	ch = &peer->chans[base + pick];
	spin_lock(&ch->lock);
	if (ch->state != NC_CH_UP) {
		spin_unlock(&ch->lock);
		return NULL;
	}
	*gen = ch->gen;
	spin_unlock(&ch->lock);
	return ch;
}

/* ---- outbound channel: transmit ---- */

static void nc_chan_tx_work(struct work_struct *work)
{
	struct nc_chan *ch = container_of(work, struct nc_chan, tx_work);
	struct socket *sock;
	u32 gen, budget = 0;

	spin_lock(&ch->lock);
	sock = ch->sock;
	gen = ch->gen;
	if (ch->state != NC_CH_UP || !sock) {
		spin_unlock(&ch->lock);
		return;
	}
	spin_unlock(&ch->lock);
	/* the sockets' default send limit follows it (nc_sndlim_auto) */
	WRITE_ONCE(ch->sndbuf, (u32)READ_ONCE(sock->sk->sk_sndbuf));

	while (budget < NC_TX_BUDGET) {
		struct kvec kv[NC_TX_BATCH];
		struct msghdr msg = { };
		struct nc_txframe *f, *tmp;
		LIST_HEAD(done);
		size_t len = 0;
		int cnt = 0, n;
		bool more;

		/*
		 * The frames at the head of the queue, up to NC_TX_BATCH, in
		 * one call: TCP takes them as one write (fewer socket lock
		 * round trips, full segments for small frames).  Only this
		 * work removes frames, and teardown waits for it, so they
		 * stay while the lock is dropped.
		 */
		spin_lock(&ch->lock);
		if (ch->gen != gen) {
			spin_unlock(&ch->lock);
			return;
		}
		nc_chan_refill(ch);
		if (list_empty(&ch->txq)) {
			spin_unlock(&ch->lock);
			return;
		}
		list_for_each_entry(f, &ch->txq, list) {
			if (cnt == NC_TX_BATCH)
				break;
			kv[cnt].iov_base = f->buf + f->sent;
			kv[cnt].iov_len = f->len - f->sent;
			len += kv[cnt].iov_len;
			cnt++;
		}
		more = ch->txq_len > cnt;
		spin_unlock(&ch->lock);

		msg.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0);
		n = kernel_sendmsg(sock, &msg, kv, cnt, len);
		if (n == -EAGAIN)
			return;		/* write_space requeues us */
		if (n <= 0) {
			ch->last_err = n;
			queue_work(nc_ctl_wq, &ch->down_work);
			return;
		}
		budget += n;
		ch->bytes += n;
		NC_ADD(tx_bytes, n);

		spin_lock(&ch->lock);
		if (ch->gen != gen) {
			spin_unlock(&ch->lock);
			return;
		}
		ch->txq_bytes -= n;
		ch->rdy_bytes -= n;
		/* TCP took n bytes: the frames they complete leave the queue */
		list_for_each_entry_safe(f, tmp, &ch->txq, list) {
			u32 take = min_t(u32, (u32)n, f->len - f->sent);

			f->sent += take;
			n -= take;
			if (f->sent != f->len)
				break;
			list_move_tail(&f->list, &done);
			ch->rdy_len--;
			ch->txq_len--;
			ch->rst_queued -= f->rst_reply;
			if (!n)
				break;
		}
		spin_unlock(&ch->lock);
		list_for_each_entry_safe(f, tmp, &done, list) {
			list_del(&f->list);
			ch->frames++;
			NC_INC(tx_frames);
			nc_txframe_done(f);
		}
	}
	queue_work_on(ch->cpu, ch->wq, &ch->tx_work);
}

static void nc_chan_state_change(struct sock *sk)
{
	struct nc_chan *ch;

	read_lock_bh(&sk->sk_callback_lock);
	ch = sk->sk_user_data;
	if (ch && sk->sk_state != TCP_ESTABLISHED)
		queue_work(nc_ctl_wq, &ch->down_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

/*
 * TCP has room again: wake the tx worker, as sk_stream_write_space()
 * wakes a writer, only once the socket is writeable (with
 * TCP_NOTSENT_LOWAT: its unsent bytes below the limit), not on every
 * ACK while a busy channel stays full.
 */
static void nc_chan_write_space(struct sock *sk)
{
	struct nc_chan *ch;

	read_lock_bh(&sk->sk_callback_lock);
	ch = sk->sk_user_data;
	if (ch && sk_stream_is_writeable(sk)) {
		if (sk->sk_socket)
			clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
		queue_work_on(ch->cpu, ch->wq, &ch->tx_work);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void nc_chan_restore_callbacks(struct nc_chan *ch, struct socket *sock)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data == ch) {
		sk->sk_user_data = NULL;
		sk->sk_state_change = ch->saved_state_change;
		sk->sk_write_space = ch->saved_write_space;
	}
	write_unlock_bh(&sk->sk_callback_lock);
}

static void nc_txq_free(struct list_head *q)
{
	struct nc_txframe *f, *tmp;

	list_for_each_entry_safe(f, tmp, q, list) {
		list_del(&f->list);
		nc_txframe_done(f);
	}
}

static u32 nc_next_backoff(struct nc_chan *ch)
{
	u32 lo = max(READ_ONCE(nc_tun.retry_min_ms), 1);
	u32 hi = max_t(u32, READ_ONCE(nc_tun.retry_max_ms), lo);

	ch->backoff_ms = ch->backoff_ms ? min(ch->backoff_ms * 2, hi) : lo;
	return ch->backoff_ms;
}

/*
 * Keepalive and TCP_USER_TIMEOUT on a channel's TCP connection, outbound
 * and inbound alike: a peer that crashed or lost its link sends no FIN or
 * RST, and without these the channel would stay "up" forever.  The
 * sysctls are read when a channel is set up.
 */
static void nc_chan_set_liveness(struct sock *sk)
{
	sock_set_keepalive(sk);
	tcp_sock_set_keepidle(sk, READ_ONCE(nc_tun.keepalive_time_s));
	tcp_sock_set_keepintvl(sk, READ_ONCE(nc_tun.keepalive_intvl_s));
	tcp_sock_set_keepcnt(sk, READ_ONCE(nc_tun.keepalive_probes));
	tcp_sock_set_user_timeout(sk, READ_ONCE(nc_tun.user_timeout_ms));
}

/*
 * A latency channel's TCP connection carries DSCP latency_dscp and the
 * latency class's socket priority, in both directions (the acceptor's
 * ACKs too), so qdiscs and switches can serve it before bulk traffic.
 * Read when the channel is set up.
 */
static void nc_chan_mark_latency(struct sock *sk)
{
	ip_sock_set_tos(sk, READ_ONCE(nc_tun.latency_dscp) << 2);
	sock_set_priority(sk, (u32)READ_ONCE(nc_tun.latency_priority));
}

/*
 * A bulk channel's TCP socket takes new data only while it holds less
 * than bulk_notsent_lowat bytes it has not sent (TCP_NOTSENT_LOWAT): the
 * rest waits in the channel's queue, where striping sees it as load and
 * the connections sharing the channel stay in the order they wrote,
 * instead of megabytes in TCP's send queue ahead of every newcomer.
 * Read when the channel is set up; 0 leaves TCP's default (no limit).
 */
static void nc_chan_set_notsent_lowat(struct sock *sk)
{
	int lowat = READ_ONCE(nc_tun.bulk_notsent_lowat);

	if (lowat > 0) {
		lock_sock(sk);
		WRITE_ONCE(tcp_sk(sk)->notsent_lowat, (u32)lowat);
		release_sock(sk);
	}
}

/* ---- outbound channel: connect with retry ---- */

static void nc_chan_conn_work(struct work_struct *work)
{
	struct nc_chan *ch = container_of(to_delayed_work(work), struct nc_chan,
					  conn_work);
	struct nc_hdr hello = {
		.type = NC_T_HELLO,
		.flags = ch->latency ? NC_F_LATENCY : 0,
		.sport = (u16)ch->idx,
		.dport = ch->latency,
		.conn_id = nc_cfg.local_ip,
		.credit = NC_CAPS_KNOWN,
		.vmask = NC_DP_VMASK,
	};
	struct sockaddr_in sin;
	struct nc_txframe *hf;
	struct socket *sock;
	bool authed = false;
	struct sock *sk;
	int err;

	spin_lock(&ch->lock);
	if (ch->state == NC_CH_STOPPED || ch->state == NC_CH_UP) {
		spin_unlock(&ch->lock);
		return;
	}
	ch->state = NC_CH_CONNECTING;
	spin_unlock(&ch->lock);

	hf = nc_txframe_alloc(&hello, GFP_KERNEL);
	err = hf ? 0 : -ENOMEM;
	/* auth_required: no channel before the key (nc_chan_auth_on() starts it) */
	if (!err && READ_ONCE(nc_auth_required) && !nc_auth_enabled())
		err = -ENOKEY;
	if (!err)
		err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM,
				       IPPROTO_TCP, &sock);
	if (err)
		goto retry;
	sk = sock->sk;
	tcp_sock_set_nodelay(sk);
	tcp_sock_set_syncnt(sk, 2);
	nc_chan_set_liveness(sk);
	if (ch->latency)
		nc_chan_mark_latency(sk);
	else
		nc_chan_set_notsent_lowat(sk);
	nc_sin(&sin, nc_cfg.local_ip, 0);
	err = kernel_bind(sock, (struct sockaddr *)&sin, sizeof(sin));
	if (!err) {
		nc_sin(&sin, ch->peer->ip, nc_cfg.port);
		err = kernel_connect(sock, (struct sockaddr *)&sin, sizeof(sin),
				     0);
	}
	if (err) {
		sock_release(sock);
		goto retry;
	}
	if (nc_auth_wanted()) {
		struct nc_txframe *proof;
		const char *why;

		/* the proof goes out in place of the plain HELLO */
		err = nc_auth_connect(sock, (u16)ch->idx, ch->latency, &proof,
				      &why);
		if (err) {
			pr_warn_ratelimited("netchannel: channel %pI4h/%u: authentication failed: %s (%d)\n",
					    &ch->peer->ip, ch->idx, why, err);
			NC_INC(auth_failed);
			sock_release(sock);
			goto retry;
		}
		NC_INC(auth_ok);
		kfree(hf);
		hf = proof;
		authed = true;
	}

	write_lock_bh(&sk->sk_callback_lock);
	ch->saved_state_change = sk->sk_state_change;
	ch->saved_write_space = sk->sk_write_space;
	sk->sk_user_data = ch;
	sk->sk_state_change = nc_chan_state_change;
	sk->sk_write_space = nc_chan_write_space;
	write_unlock_bh(&sk->sk_callback_lock);

	spin_lock(&ch->lock);
	if (ch->state == NC_CH_STOPPED) {
		spin_unlock(&ch->lock);
		nc_chan_restore_callbacks(ch, sock);
		sock_release(sock);
		kfree(hf);
		return;
	}
	if (!authed && nc_auth_wanted()) {
		/* a key came during the connect: again, with it */
		spin_unlock(&ch->lock);
		nc_chan_restore_callbacks(ch, sock);
		sock_release(sock);
		err = -EAGAIN;
		goto retry;
	}
	ch->sock = sock;
	WRITE_ONCE(ch->sndbuf, (u32)READ_ONCE(sock->sk->sk_sndbuf));
	ch->state = NC_CH_UP;
	ch->gen++;
	ch->backoff_ms = 0;
	ch->connects++;
	/* first on the wire: the queues are empty while the channel is down */
	nc_txq_add(ch, hf);
	spin_unlock(&ch->lock);

	NC_INC(chan_up);
	nc_dbg("channel %pI4h/%u up\n", &ch->peer->ip, ch->idx);
	wake_up_all(&ch->up_wait);
	queue_work_on(ch->cpu, ch->wq, &ch->tx_work);
	/* The connection may have died before our callback was installed. */
	if (READ_ONCE(sk->sk_state) != TCP_ESTABLISHED)
		queue_work(nc_ctl_wq, &ch->down_work);
	return;

retry:
	kfree(hf);
	ch->fails++;
	ch->last_err = err;
	NC_INC(chan_connect_fail);
	spin_lock(&ch->lock);
	if (ch->state != NC_CH_STOPPED) {
		ch->state = NC_CH_BACKOFF;
		queue_delayed_work(nc_ctl_wq, &ch->conn_work,
				   msecs_to_jiffies(nc_next_backoff(ch)));
	}
	spin_unlock(&ch->lock);
}

/*
 * The channel's TCP connection failed: drop it, fail the connections
 * that were using it, and reconnect.
 */
static void nc_chan_down_work(struct work_struct *work)
{
	struct nc_chan *ch = container_of(work, struct nc_chan, down_work);
	struct socket *sock;
	LIST_HEAD(dropped);
	u32 old_gen;

	spin_lock(&ch->lock);
	if (ch->state != NC_CH_UP) {
		spin_unlock(&ch->lock);
		return;
	}
	ch->state = NC_CH_BACKOFF;
	sock = ch->sock;
	ch->sock = NULL;
	old_gen = ch->gen++;
	nc_chan_take_queues(ch, &dropped);
	spin_unlock(&ch->lock);

	nc_chan_restore_callbacks(ch, sock);
	cancel_work_sync(&ch->tx_work);
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sock_release(sock);
	nc_txq_free(&dropped);
	NC_INC(chan_down);
	pr_info("netchannel: channel %pI4h/%u down, reconnecting\n",
		&ch->peer->ip, ch->idx);
	nc_conns_chan_down(ch, old_gen);

	spin_lock(&ch->lock);
	if (ch->state != NC_CH_STOPPED)
		queue_delayed_work(nc_ctl_wq, &ch->conn_work,
				   msecs_to_jiffies(nc_next_backoff(ch)));
	spin_unlock(&ch->lock);
}

/* Force every established outbound channel down (sysctl reset_channels). */
void nc_chan_reset_all(void)
{
	/* pairs with the release in nc_chan_init */
	u32 i, j, n = smp_load_acquire(&nc_npeers);

	for (i = 0; i < n; i++)
		for (j = 0; j < nc_peers[i].nchans; j++)
			queue_work(nc_ctl_wq, &nc_peers[i].chans[j].down_work);
}

static void nc_chan_stop(struct nc_chan *ch)
{
	struct socket *sock;
	LIST_HEAD(dropped);

	spin_lock(&ch->lock);
	ch->state = NC_CH_STOPPED;
	spin_unlock(&ch->lock);
	wake_up_all(&ch->up_wait);
	cancel_delayed_work_sync(&ch->conn_work);
	cancel_work_sync(&ch->down_work);

	spin_lock(&ch->lock);
	sock = ch->sock;
	ch->sock = NULL;
	ch->gen++;
	nc_chan_take_queues(ch, &dropped);
	spin_unlock(&ch->lock);
	if (sock)
		nc_chan_restore_callbacks(ch, sock);
	cancel_work_sync(&ch->tx_work);
	if (sock) {
		kernel_sock_shutdown(sock, SHUT_RDWR);
		sock_release(sock);
	}
	nc_txq_free(&dropped);
}

/* ---- inbound channels ---- */

/* Queue rc's teardown once; the caller holds nc_rx_lock. */
static void nc_rx_queue_teardown_locked(struct nc_rxchan *rc)
{
	lockdep_assert_held(&nc_rx_lock);
	if (!rc->teardown_queued) {
		rc->teardown_queued = true;
		queue_work(nc_ctl_wq, &rc->teardown_work);
	}
}

static void nc_rx_queue_teardown(struct nc_rxchan *rc)
{
	spin_lock(&nc_rx_lock);
	nc_rx_queue_teardown_locked(rc);
	spin_unlock(&nc_rx_lock);
}

/*
 * A cluster key was just set where there was none: the channels set up
 * without it go, so that from now on only authenticated ones carry
 * frames.  Outbound ones reconnect and authenticate (those waiting for the
 * key, or for a retry, at once); inbound ones wait for their hosts to do
 * the same.
 */
void nc_chan_auth_on(void)
{
	u32 i, j, np = smp_load_acquire(&nc_npeers);	/* nc_chan_init's release */
	struct nc_rxchan *rc;
	u32 n = 0;

	nc_chan_reset_all();
	/* those waiting for a key (auth_required) or a retry go now */
	for (i = 0; i < np; i++) {
		for (j = 0; j < nc_peers[i].nchans; j++) {
			struct nc_chan *ch = &nc_peers[i].chans[j];

			spin_lock(&ch->lock);
			if (ch->state == NC_CH_BACKOFF)
				mod_delayed_work(nc_ctl_wq, &ch->conn_work, 0);
			spin_unlock(&ch->lock);
		}
	}
	spin_lock(&nc_rx_lock);
	list_for_each_entry(rc, &nc_rx_list, list) {
		if (!rc->hello || rc->authed || rc->teardown_queued)
			continue;
		WRITE_ONCE(rc->dying, true);
		nc_rx_queue_teardown_locked(rc);
		n++;
	}
	spin_unlock(&nc_rx_lock);
	pr_info("netchannel: cluster key on: outbound channels reconnect with it, %u inbound channel(s) without it dropped\n",
		n);
}

/*
 * A peer opens one channel per index and class.  A second HELLO for the
 * same peer, index and class means the peer dropped the old channel
 * without us hearing of it (it rebooted, or its FIN/RST was lost): the
 * old inbound channel is stale, tear it down now rather than waiting for
 * keepalive.
 */
static int nc_rx_hello_accept(struct nc_rxchan *rc, u16 idx, bool latency,
			      u32 announced, bool authed)
{
	struct nc_rxchan *old;
	struct nc_peer *peer;
	u64 replaced = 0;

	spin_lock(&nc_rx_lock);
	/* a key set since the HELLO was checked: nc_chan_auth_on() ran */
	if (!authed && nc_auth_wanted()) {
		spin_unlock(&nc_rx_lock);
		pr_warn_ratelimited("netchannel: channel from %pI4h refused: a cluster key was set during its HELLO\n",
				    &rc->peer_ip);
		NC_INC(auth_failed);
		return -EACCES;
	}
	rc->hello = true;
	rc->authed = authed;
	rc->hello_idx = idx;
	rc->hello_latency = latency;
	list_for_each_entry(old, &nc_rx_list, list) {
		if (old == rc || !old->hello || old->teardown_queued ||
		    old->peer_ip != rc->peer_ip ||
		    old->hello_idx != rc->hello_idx ||
		    old->hello_latency != rc->hello_latency)
			continue;
		WRITE_ONCE(old->dying, true);
		nc_rx_queue_teardown_locked(old);
		replaced = old->id;
	}
	spin_unlock(&nc_rx_lock);
	/*
	 * What the peer's module does now: one reloaded as an older build
	 * no longer acknowledges, and would drop a channel that brings it
	 * a resent copy or a PROBE (nc_rtx_work() checks this first).
	 */
	peer = nc_peer_find(rc->peer_ip);
	if (peer)
		WRITE_ONCE(peer->caps, rc->caps);
	if (replaced)
		pr_info_ratelimited("netchannel: inbound channel %llu from %pI4h (%s %u) replaced by %llu\n",
				    replaced, &rc->peer_ip,
				    rc->hello_latency ? "latency" : "bulk",
				    rc->hello_idx, rc->id);
	if (announced != rc->peer_ip)
		nc_dbg("channel from %pI4h announces %pI4h\n", &rc->peer_ip,
		       &announced);
	if (rc->hello_latency) {
		nc_chan_mark_latency(rc->sock->sk);
		WRITE_ONCE(rc->wq, nc_lat_wq);
	}
	return 0;
}

/*
 * With a cluster key a HELLO must carry flag AUTH, and the channel counts
 * only once the connector's proof has come (nc_rx_auth); without a key,
 * a HELLO with AUTH is refused, so that both ends log the mismatch.
 */
static int nc_rx_hello(struct nc_rxchan *rc, const struct nc_hdr *h)
{
	/*
	 * Hosts may have other channel counts than ours (a table per host),
	 * but none more than a table allows: so past HELLO a host has at
	 * most one channel per possible index and class.
	 */
	u32 nch = 2 * NC_MAX_CLASS_CHANNELS;
	bool want = nc_auth_wanted(), has = h->flags & NC_F_AUTH;
	const char *why;
	u8 version;
	int res;

	if (!rc->hello) {
		res = nc_wire_negotiate(NC_DP_VMASK, h, &version);
		if (res != NC_NEG_OK) {
			pr_warn_ratelimited("netchannel: channel from %pI4h refused: %s (this module speaks wire version %u)\n",
					    &rc->peer_ip, nc_neg_strerror(res),
					    NC_DP_VERSION);
			NC_INC(wire_refused);
			return -EPROTO;
		}
		/* every later header must be in the agreed version */
		nc_parser_set_vmask(&rc->parser, NC_VBIT(version));
		/* what the peer offers and this module knows (not in the MAC) */
		rc->caps = h->credit & NC_CAPS_KNOWN;
	}
	if (rc->hello || rc->auth_wait || h->sport >= nch) {
		pr_warn_ratelimited("netchannel: %s from %pI4h (index %u, a table allows %u), dropping channel\n",
				    rc->hello || rc->auth_wait ? "second HELLO" :
				    "HELLO for an index out of range",
				    &rc->peer_ip, h->sport, nch);
		NC_INC(proto_errors);
		return -EPROTO;
	}
	if (want != has) {
		if (want)
			pr_warn_ratelimited("netchannel: channel from %pI4h refused: it does not authenticate, and this host requires the cluster key (auth_key)\n",
					    &rc->peer_ip);
		else
			pr_warn_ratelimited("netchannel: channel from %pI4h refused: it authenticates with a cluster key, and this host has none (auth_key)\n",
					    &rc->peer_ip);
		NC_INC(auth_failed);
		return -EACCES;
	}
	if (!want)
		return nc_rx_hello_accept(rc, h->sport, h->flags & NC_F_LATENCY,
					  h->conn_id, false);
	if (!nc_auth_enabled()) {
		pr_warn_ratelimited("netchannel: channel from %pI4h refused: this host requires authentication (auth_required) and has no cluster key yet\n",
				    &rc->peer_ip);
		NC_INC(auth_failed);
		return -ENOKEY;
	}
	res = nc_auth_challenge(rc->sock, h, rc->abuf, &rc->auth, &why);
	if (res) {
		pr_warn_ratelimited("netchannel: channel from %pI4h refused: %s (%d)\n",
				    &rc->peer_ip, why, res);
		NC_INC(auth_failed);
		return res;
	}
	rc->auth_wait = true;
	return 0;
}

/* The connector's proof: the channel is the host's only if it holds. */
static int nc_rx_auth(struct nc_rxchan *rc, const struct nc_hdr *h)
{
	struct nc_auth_ctx c = rc->auth.ctx;

	if (!rc->auth_wait) {
		pr_warn_ratelimited("netchannel: unexpected AUTH from %pI4h, dropping channel\n",
				    &rc->peer_ip);
		NC_INC(proto_errors);
		return -EPROTO;
	}
	rc->auth_wait = false;
	if (nc_auth_check_proof(&rc->auth, rc->abuf, h->len)) {
		pr_warn_ratelimited("netchannel: channel from %pI4h refused: its proof does not match this host's cluster key\n",
				    &rc->peer_ip);
		NC_INC(auth_failed);
		return -EACCES;
	}
	NC_INC(auth_ok);
	return nc_rx_hello_accept(rc, c.idx, c.latency, rc->peer_ip, true);
}

/* Feed received bytes to the parser; -EPROTO/-ENOMEM are fatal. */
static int nc_rx_consume(struct nc_rxchan *rc, const u8 *buf, size_t len)
{
	struct nc_event ev;
	size_t used, size;

	for (;;) {
		used = nc_parser_feed(&rc->parser, buf, len, &ev);
		buf += used;
		len -= used;
		switch (ev.type) {
		case NC_EV_NEED_MORE:
			return 0;
		case NC_EV_ERROR:
			pr_warn_ratelimited("netchannel: bad frame from %pI4h: %s, dropping channel\n",
					    &rc->peer_ip, nc_wire_strerror(ev.err));
			NC_INC(proto_errors);
			return -EPROTO;
		case NC_EV_HDR:
			rc->cur = *ev.hdr;
			rc->cur_fill = 0;
			if (!rc->hello &&
			    rc->cur.type != (rc->auth_wait ? NC_T_AUTH : NC_T_HELLO)) {
				pr_warn_ratelimited("netchannel: frame of type %u before HELLO from %pI4h, dropping channel\n",
						    rc->cur.type, &rc->peer_ip);
				NC_INC(proto_errors);
				return -EPROTO;
			}
			if (rc->cur.type != NC_T_DATA)
				break;
			size = struct_size(rc->cur_chunk, data, rc->cur.len);
			if (rc->cur.len <= NC_RX_SMALL)
				size = NC_RX_PACK;
			rc->cur_chunk = kvmalloc(size, GFP_KERNEL);
			if (!rc->cur_chunk)
				return -ENOMEM;
			rc->cur_chunk->len = rc->cur.len;
			rc->cur_chunk->off = 0;
			rc->cur_chunk->cap = (u32)(size -
					     offsetof(struct nc_chunk, data));
			break;
		case NC_EV_DATA:
			/* the codec allows payload on DATA, HELLO and AUTH only */
			if (rc->cur.type == NC_T_DATA)
				memcpy(rc->cur_chunk->data + rc->cur_fill,
				       ev.data, ev.len);
			else if (!WARN_ON_ONCE(rc->cur_fill + ev.len > sizeof(rc->abuf)))
				memcpy(rc->abuf + rc->cur_fill, ev.data, ev.len);
			else
				return -EPROTO;
			rc->cur_fill += ev.len;
			break;
		case NC_EV_END:
			rc->frames++;
			NC_INC(rx_frames);
			if (rc->cur.type == NC_T_HELLO) {
				if (nc_rx_hello(rc, &rc->cur))
					return -EPROTO;
				break;
			}
			if (rc->cur.type == NC_T_AUTH) {
				if (nc_rx_auth(rc, &rc->cur))
					return -EPROTO;
				break;
			}
			nc_rx_frame(rc, &rc->cur, rc->cur_chunk);
			rc->cur_chunk = NULL;
			break;
		}
	}
}

static void nc_rx_work(struct work_struct *work)
{
	struct nc_rxchan *rc = container_of(work, struct nc_rxchan, rx_work);
	u32 budget = 0;
	int n, err = 0;

	mutex_lock(&rc->rx_mutex);
	while (!READ_ONCE(rc->dying)) {
		u32 left = nc_parser_payload_left(&rc->parser);
		struct msghdr msg = { };
		struct kvec kv = {
			.iov_base = rc->rxbuf, .iov_len = NC_RXBUF_SIZE,
		};
		bool direct = left && rc->cur_chunk;

		if (budget >= NC_RX_BUDGET) {
			queue_work_on(rc->cpu, READ_ONCE(rc->wq), &rc->rx_work);
			break;
		}
		if (direct) {
			/* payload goes straight into the socket's chunk */
			kv.iov_base = rc->cur_chunk->data + rc->cur_fill;
			kv.iov_len = left;
		}
		n = kernel_recvmsg(rc->sock, &msg, &kv, 1, kv.iov_len,
				   MSG_DONTWAIT);
		if (n == -EAGAIN)
			break;
		if (n <= 0) {
			err = n ? n : -ECONNRESET;
			break;
		}
		budget += n;
		rc->bytes += n;
		NC_ADD(rx_bytes, n);
		if (direct) {
			rc->cur_fill += nc_parser_advance(&rc->parser, n);
			err = nc_rx_consume(rc, NULL, 0);	/* reports END */
		} else {
			err = nc_rx_consume(rc, rc->rxbuf, n);
		}
		if (err)
			break;
	}
	mutex_unlock(&rc->rx_mutex);
	if (err) {
		nc_dbg("inbound channel %llu from %pI4h closed (%d)\n", rc->id,
		       &rc->peer_ip, err);
		WRITE_ONCE(rc->dying, true);
		nc_rx_queue_teardown(rc);
	}
}

static void nc_rx_data_ready(struct sock *sk)
{
	struct nc_rxchan *rc;

	read_lock_bh(&sk->sk_callback_lock);
	rc = sk->sk_user_data;
	if (rc && !READ_ONCE(rc->dying))
		queue_work_on(rc->cpu, READ_ONCE(rc->wq), &rc->rx_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

/* A channel that has not said who it is within hello_timeout_ms goes. */
static void nc_rx_hello_timeout(struct work_struct *work)
{
	struct nc_rxchan *rc = container_of(to_delayed_work(work),
					    struct nc_rxchan, hello_work);
	bool hello;

	spin_lock(&nc_rx_lock);
	hello = rc->hello;
	spin_unlock(&nc_rx_lock);
	if (hello)
		return;
	/* bytes in but not parsed yet (a busy worker): look once more */
	if (!rc->hello_rearmed &&
	    (work_pending(&rc->rx_work) ||
	     !skb_queue_empty_lockless(&rc->sock->sk->sk_receive_queue))) {
		rc->hello_rearmed = true;
		queue_delayed_work(nc_ctl_wq, &rc->hello_work,
				   msecs_to_jiffies(READ_ONCE(nc_tun.hello_timeout_ms)));
		return;
	}
	pr_warn_ratelimited("netchannel: channel %llu from %pI4h sent no HELLO in time, dropping it\n",
			    rc->id, &rc->peer_ip);
	NC_INC(proto_errors);
	WRITE_ONCE(rc->dying, true);
	nc_rx_queue_teardown(rc);
}

static void nc_rx_teardown_work(struct work_struct *work)
{
	struct nc_rxchan *rc = container_of(work, struct nc_rxchan,
					    teardown_work);
	struct sock *sk = rc->sock->sk;

	cancel_delayed_work_sync(&rc->hello_work);
	WRITE_ONCE(rc->dying, true);
	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_user_data = NULL;
	sk->sk_data_ready = rc->saved_data_ready;
	sk->sk_state_change = rc->saved_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
	cancel_work_sync(&rc->rx_work);
	kernel_sock_shutdown(rc->sock, SHUT_RDWR);
	sock_release(rc->sock);

	spin_lock(&nc_rx_lock);
	list_del(&rc->list);
	spin_unlock(&nc_rx_lock);
	nc_conns_rxchan_down(rc);
	kvfree(rc->cur_chunk);
	kfree(rc->rxbuf);
	memzero_explicit(&rc->auth, sizeof(rc->auth));
	kfree(rc);
}

/* The n-th CPU (cyclically) of the configured list, if online. */
static int nc_pick_cpu(u32 n)
{
	u32 i, k;

	if (!nc_cfg.ncpus)
		return WORK_CPU_UNBOUND;
	k = n % nc_cfg.ncpus;
	for (i = 0; i < NC_MAX_CPUS; i++) {
		if (!nc_hostcfg_cpu_isset(&nc_cfg, i))
			continue;
		if (k--)
			continue;
		return i < nr_cpu_ids && cpu_online(i) ? (int)i :
		       WORK_CPU_UNBOUND;
	}
	return WORK_CPU_UNBOUND;
}

static int nc_rx_add(struct socket *sock)
{
	struct nc_peer *peer;
	struct sockaddr_in sin;
	struct nc_rxchan *rc, *o, *oldest = NULL;
	struct sock *sk = sock->sk;
	u32 ip, n = 0, cap;
	u64 id, evicted = 0;
	int err;

	err = kernel_getpeername(sock, (struct sockaddr *)&sin);
	if (err < 0)
		return err;
	ip = ntohl(sin.sin_addr.s_addr);
	peer = nc_peer_find(ip);
	if (!peer) {
		pr_warn_ratelimited("netchannel: channel from %pI4h refused: not in the host table\n",
				    &ip);
		NC_INC(chan_refused);
		return -EPERM;
	}
	ip = peer->ip;	/* 127.0.0.0/8 is the local host */
	rc = kzalloc(sizeof(*rc), GFP_KERNEL);
	if (!rc)
		return -ENOMEM;
	rc->rxbuf = kmalloc(NC_RXBUF_SIZE, GFP_KERNEL);
	if (!rc->rxbuf) {
		kfree(rc);
		return -ENOMEM;
	}
	rc->sock = sock;
	rc->peer_ip = ip;
	rc->wq = nc_bulk_wq;
	mutex_init(&rc->rx_mutex);
	INIT_WORK(&rc->rx_work, nc_rx_work);
	INIT_WORK(&rc->teardown_work, nc_rx_teardown_work);
	INIT_DELAYED_WORK(&rc->hello_work, nc_rx_hello_timeout);
	/* any version, so an old peer's HELLO is read and refused by name */
	nc_parser_init_vmask(&rc->parser, NC_VMASK_KNOWN);
	tcp_sock_set_nodelay(sk);
	nc_chan_set_liveness(sk);

	/*
	 * Channels that have not said HELLO yet cost memory and prove
	 * nothing: a host gets cap of them (0: as many as the largest table
	 * opens at once, plus 4), and a new one evicts the oldest rather
	 * than being refused, so silent channels cannot keep a host's real
	 * ones out.  Channels past HELLO
	 * are bounded by their index range (nc_rx_hello).  Everything up to
	 * the queued work happens under nc_rx_lock: every teardown is queued
	 * under it, so rc cannot go away before this function is done with it.
	 */
	cap = READ_ONCE(nc_tun.max_pending_per_peer);
	if (!cap)
		cap = 2 * NC_MAX_CLASS_CHANNELS + 4;
	spin_lock(&nc_rx_lock);
	if (nc_rx_stopping) {
		spin_unlock(&nc_rx_lock);
		kfree(rc->rxbuf);
		kfree(rc);
		return -ESHUTDOWN;
	}
	list_for_each_entry(o, &nc_rx_list, list) {
		if (o->peer_ip != ip || o->hello || o->teardown_queued)
			continue;
		if (!oldest)
			oldest = o;
		n++;
	}
	if (n >= cap) {
		WRITE_ONCE(oldest->dying, true);
		nc_rx_queue_teardown_locked(oldest);
		evicted = oldest->id;
	}
	rc->id = nc_rx_next_id++;
	id = rc->id;
	rc->cpu = nc_pick_cpu((u32)rc->id);
	list_add_tail(&rc->list, &nc_rx_list);
	queue_delayed_work(nc_ctl_wq, &rc->hello_work,
			   msecs_to_jiffies(READ_ONCE(nc_tun.hello_timeout_ms)));
	write_lock_bh(&sk->sk_callback_lock);
	rc->saved_data_ready = sk->sk_data_ready;
	rc->saved_state_change = sk->sk_state_change;
	sk->sk_user_data = rc;
	sk->sk_data_ready = nc_rx_data_ready;
	sk->sk_state_change = nc_rx_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	queue_work_on(rc->cpu, rc->wq, &rc->rx_work);
	spin_unlock(&nc_rx_lock);

	if (evicted) {
		pr_warn_ratelimited("netchannel: channel %llu from %pI4h evicted: %u channels from it had not sent HELLO (max_pending_per_peer)\n",
				    evicted, &ip, n);
		NC_INC(chan_evicted);
	}
	nc_dbg("inbound channel %llu from %pI4h\n", id, &ip);
	return 0;
}

static void nc_accept_work_fn(struct work_struct *work)
{
	struct socket *ns;

	for (;;) {
		if (kernel_accept(nc_lsock, &ns, O_NONBLOCK))
			return;
		if (nc_rx_add(ns))
			sock_release(ns);
	}
}

static void nc_listen_data_ready(struct sock *sk)
{
	read_lock_bh(&sk->sk_callback_lock);
	if (sk->sk_user_data)
		queue_work(nc_ctl_wq, &nc_accept_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

static int nc_listen_start(void)
{
	struct sockaddr_in sin;
	struct sock *sk;
	int err;

	INIT_WORK(&nc_accept_work, nc_accept_work_fn);
	err = sock_create_kern(&init_net, AF_INET, SOCK_STREAM, IPPROTO_TCP,
			       &nc_lsock);
	if (err)
		return err;
	sk = nc_lsock->sk;
	sock_set_reuseaddr(sk);
	tcp_sock_set_nodelay(sk);
	nc_sin(&sin, nc_cfg.local_ip, nc_cfg.port);
	err = kernel_bind(nc_lsock, (struct sockaddr *)&sin, sizeof(sin));
	if (err) {
		pr_err("netchannel: cannot bind channel listener to %pI4h:%u: %d\n",
		       &nc_cfg.local_ip, nc_cfg.port, err);
		goto fail;
	}
	write_lock_bh(&sk->sk_callback_lock);
	nc_lsock_saved_data_ready = sk->sk_data_ready;
	sk->sk_user_data = nc_lsock;
	sk->sk_data_ready = nc_listen_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	err = kernel_listen(nc_lsock, NC_LISTEN_BACKLOG);
	if (err) {
		pr_err("netchannel: listen on %pI4h:%u failed: %d\n",
		       &nc_cfg.local_ip, nc_cfg.port, err);
		goto fail;
	}
	return 0;
fail:
	sock_release(nc_lsock);
	nc_lsock = NULL;
	return err;
}

static void nc_listen_stop(void)
{
	struct sock *sk = nc_lsock->sk;
	struct nc_rxchan *rc;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_user_data = NULL;
	sk->sk_data_ready = nc_lsock_saved_data_ready;
	write_unlock_bh(&sk->sk_callback_lock);
	cancel_work_sync(&nc_accept_work);
	kernel_sock_shutdown(nc_lsock, SHUT_RDWR);
	sock_release(nc_lsock);
	nc_lsock = NULL;

	/* Tear down every inbound channel; teardown removes it from the list. */
	spin_lock(&nc_rx_lock);
	nc_rx_stopping = true;
	list_for_each_entry(rc, &nc_rx_list, list)
		nc_rx_queue_teardown_locked(rc);
	spin_unlock(&nc_rx_lock);
	flush_workqueue(nc_ctl_wq);
	WARN_ON(!list_empty(&nc_rx_list));
}

/* ---- setup ---- */

static void nc_chan_setup(struct nc_chan *ch, struct nc_peer *peer, u32 idx,
			  u32 cpu_seq)
{
	ch->peer = peer;
	ch->idx = idx;
	ch->latency = idx >= nc_cfg.bulk;
	ch->wq = ch->latency ? nc_lat_wq : nc_bulk_wq;
	ch->cpu = nc_pick_cpu(cpu_seq);
	spin_lock_init(&ch->lock);
	INIT_LIST_HEAD(&ch->txq);
	nc_drr_init(&ch->drr, NC_DRR_QUANTUM, nc_txframe_qlen);
	INIT_WORK(&ch->tx_work, nc_chan_tx_work);
	INIT_WORK(&ch->down_work, nc_chan_down_work);
	INIT_DELAYED_WORK(&ch->conn_work, nc_chan_conn_work);
	init_waitqueue_head(&ch->up_wait);
	ch->state = NC_CH_IDLE;
}

static void nc_peers_free(struct nc_peer *peers, u32 n)
{
	u32 i;

	if (!peers)
		return;
	for (i = 0; i < n; i++)
		kfree(peers[i].chans);
	kfree(peers);
}

int nc_chan_init(void)
{
	u32 i, j, n = nc_cfg.npeers + 1, nch = nc_cfg.bulk + nc_cfg.lat;
	int err;

	struct nc_peer *peers;

	nc_rx_stopping = false;
	peers = kcalloc(n, sizeof(*peers), GFP_KERNEL);
	if (!peers)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		struct nc_peer *p = &peers[i];

		p->ip = i ? nc_cfg.peers[i - 1] : nc_cfg.local_ip;
		spin_lock_init(&p->rst_lock);
		p->chans = kcalloc(nch, sizeof(*p->chans), GFP_KERNEL);
		if (!p->chans) {
			nc_peers_free(peers, n);
			return -ENOMEM;
		}
		p->nchans = nch;
		for (j = 0; j < nch; j++)
			nc_chan_setup(&p->chans[j], p, j, i * nch + j);
	}
	nc_peers = peers;
	/* publish the count only once every channel array exists */
	smp_store_release(&nc_npeers, n);

	err = nc_listen_start();
	if (err) {
		WRITE_ONCE(nc_npeers, 0);
		nc_peers = NULL;
		nc_peers_free(peers, n);
		return err;
	}
	for (i = 0; i < n; i++)
		for (j = 0; j < nch; j++)
			queue_delayed_work(nc_ctl_wq, &nc_peers[i].chans[j].conn_work,
					   0);
	return 0;
}

void nc_chan_exit(void)
{
	struct nc_peer *peers = nc_peers;
	u32 i, j, n = nc_npeers;

	for (i = 0; i < n; i++)
		for (j = 0; j < peers[i].nchans; j++)
			nc_chan_stop(&peers[i].chans[j]);
	nc_listen_stop();
	/* down works queued by a last reset ran in nc_listen_stop's flush */
	WRITE_ONCE(nc_npeers, 0);
	nc_peers = NULL;
	nc_peers_free(peers, n);
}

void nc_chan_seq_show(struct seq_file *m)
{
	/* pairs with the release in nc_chan_init */
	u32 i, j, n = smp_load_acquire(&nc_npeers);
	struct nc_rxchan *rc;

	for (i = 0; i < n; i++) {
		struct nc_peer *p = &nc_peers[i];

		seq_printf(m, "peer %pI4h%s\n", &p->ip, i ? "" : " (self)");
		for (j = 0; j < p->nchans; j++) {
			struct nc_chan *ch = &p->chans[j];
			u32 q, qb, fl, ns = 0;
			u64 turns;
			int st;

			spin_lock(&ch->lock);
			st = ch->state;
			q = ch->txq_len;
			qb = ch->txq_bytes;
			fl = ch->drr.flows;
			turns = ch->drr.turns;
			if (st == NC_CH_UP && ch->sock)
				ns = nc_tcp_notsent(ch->sock->sk);
			spin_unlock(&ch->lock);
			seq_printf(m, "  tx %2u %-7s %-10s cpu %d frames %llu bytes %llu queued %u connects %u fails %u last_err %d queued_bytes %u notsent_bytes %u flows %u turns %llu\n",
				   j, ch->latency ? "latency" : "bulk",
				   nc_ch_state_names[st],
				   ch->cpu == WORK_CPU_UNBOUND ? -1 : ch->cpu,
				   ch->frames, ch->bytes, q, ch->connects,
				   ch->fails, ch->last_err, qb, ns, fl, turns);
		}
	}
	spin_lock(&nc_rx_lock);
	list_for_each_entry(rc, &nc_rx_list, list)
		seq_printf(m, "rx id %llu from %pI4h chan %u %s frames %llu bytes %llu%s%s\n",
			   rc->id, &rc->peer_ip, rc->hello_idx,
			   rc->hello_latency ? "latency" : "bulk", rc->frames,
			   rc->bytes, rc->caps & NC_CAP_ACK ? " acks" : "",
			   rc->dying ? " dying" : "");
	spin_unlock(&nc_rx_lock);
}
