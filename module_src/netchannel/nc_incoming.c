// SPDX-License-Identifier: GPL-2.0
/*
 * nc_incoming.c - NetChannel virtual sockets: frames that arrive.
 * nc_rx_frame() is called by the channel receive workers (nc_chan.c) for
 * each frame and hands it to its connection: CONNECT makes a child of a
 * listener, ACCEPT completes a connect(), DATA goes through the reorder
 * queue to the reader, CREDIT opens the send window, CLOSE and RESET end
 * the connection.  A lost channel fails the connections that used it
 * (nc_conns_chan_down(), nc_conns_rxchan_down()), unless they keep their
 * DATA until the peer acknowledges it: those send it again over the
 * channels that are up (nc_rtx_work()).
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

/*
 * Fail a connection (reset received, protocol violation, channel lost):
 * set the error, move to CLOSE, leave the table and wake everybody.
 * With conn_id, only that incarnation: a frame looked up before the
 * socket connect()ed again must not fail the new connection.
 */
static void __nc_conn_fail(struct nc_sock *nsk, int err, bool send_reset,
			   const u32 *conn_id)
{
	struct sock *sk = nc_to_sk(nsk);
	struct nc_ctl d;
	LIST_HEAD(kept);
	int old;

	spin_lock(&nsk->lock);
	old = sk->sk_state;
	if ((old != TCP_ESTABLISHED && old != TCP_SYN_SENT) ||
	    (conn_id && nsk->conn_id != *conn_id)) {
		spin_unlock(&nsk->lock);
		return;
	}
	nc_ctl_snap(nsk, &d);
	WRITE_ONCE(sk->sk_err, err);
	nc_rtx_drop_locked(nsk, &kept);
	/* d read before a connect() that sees CLOSE rewrites it */
	smp_store_release(&sk->sk_state, TCP_CLOSE);
	spin_unlock(&nsk->lock);
	nc_rtx_put_list(&kept);
	if (send_reset)
		nc_ctl_send(&d, NC_T_RESET, 0, 0);
	nc_unhash_conn(nsk, d.conn_id);
	NC_INC(conn_reset);
	nc_wake(sk, NC_WAKE_ALL);
}

void nc_conn_fail(struct nc_sock *nsk, int err, bool send_reset)
{
	__nc_conn_fail(nsk, err, send_reset, NULL);
}

/* Repeatedly find and fail the first hashed connection matching pred. */
static void nc_conns_fail_matching(bool (*pred)(struct nc_sock *, const void *),
				   const void *arg, int err)
{
	for (;;) {
		struct nc_sock *victim;
		u32 id;

		victim = nc_socktab_find(pred, arg, &id);
		if (!victim)
			return;
		/*
		 * RESET over the connection's control channel, if that is
		 * not the one lost: the peer may be waiting for DATA that
		 * went down with a striped channel, and would wait for ever.
		 */
		__nc_conn_fail(victim,
			       READ_ONCE(nc_to_sk(victim)->sk_state) ==
			       TCP_SYN_SENT ? EHOSTUNREACH : err, true, &id);
		/*
		 * A socket in another state must still leave the table, but
		 * not a new incarnation (a connect() or listen() since).
		 */
		nc_unhash_conn(victim, id);
		sock_put(nc_to_sk(victim));
	}
}

struct nc_chan_match {
	struct nc_chan *ch;
	u32 gen;
};

/*
 * The connection sends control frames on m's channel, or sent DATA on it
 * (striping): what that incarnation had not delivered is lost.
 */
static bool nc_match_chan(struct nc_sock *nsk, const void *arg)
{
	const struct nc_chan_match *m = arg;
	u32 i;

	if (nsk->txch == m->ch && nsk->txgen == m->gen)
		return true;
	if (nsk->peer != m->ch->peer)
		return false;
	i = m->ch->idx;
	if (i >= ARRAY_SIZE(nsk->st_gen))
		return false;
	/* pairs with the release in nc_tx_chan(): st_gen[i] is set first */
	return (smp_load_acquire(&nsk->st_used) & BIT(i)) &&
	       READ_ONCE(nsk->st_gen[i]) == m->gen;
}

/*
 * The connection was opened on rc.  DATA it received on other channels
 * needs no match here: the sender lost the same TCP connection, fails
 * the connections that sent on it and tells us with RESET.
 */
static bool nc_match_rxchan(struct nc_sock *nsk, const void *arg)
{
	const struct nc_rxchan *rc = arg;

	return nsk->rxchan_id == rc->id;
}

/*
 * Under nsk->lock (which nests inside nc_tbl_lock, where these run): an
 * established connection that keeps its DATA for the peer's ACK, and
 * whether pred matches it, read with the control channel and its
 * generation as one pair (nc_rtx_work() moves them under this lock).
 */
static bool nc_match_keeps(struct nc_sock *nsk, const void *arg,
			   bool (*pred)(struct nc_sock *, const void *),
			   bool *keeps)
{
	bool m;

	spin_lock(&nsk->lock);
	*keeps = nsk->rtx_on && nc_to_sk(nsk)->sk_state == TCP_ESTABLISHED;
	m = pred(nsk, arg);
	spin_unlock(&nsk->lock);
	return m;
}

static bool nc_match_chan_fail(struct nc_sock *nsk, const void *arg)
{
	bool keeps;

	return nc_match_keeps(nsk, arg, nc_match_chan, &keeps) && !keeps;
}

static bool nc_match_rxchan_fail(struct nc_sock *nsk, const void *arg)
{
	bool keeps;

	return nc_match_keeps(nsk, arg, nc_match_rxchan, &keeps) && !keeps;
}

/* nc_socktab_each(): the connections that stay send again (rtx_work) */
static void nc_kick_chan(struct nc_sock *nsk, void *arg)
{
	bool keeps;

	if (nc_match_keeps(nsk, arg, nc_match_chan, &keeps) && keeps) {
		nc_rtx_kick(nsk, 0);
		NC_INC(conn_kept);
	}
}

static void nc_kick_rxchan(struct nc_sock *nsk, void *arg)
{
	bool keeps;

	if (nc_match_keeps(nsk, arg, nc_match_rxchan, &keeps) && keeps) {
		spin_lock(&nsk->lock);
		nsk->rtx_probe = true;
		spin_unlock(&nsk->lock);
		nc_rtx_kick(nsk, 0);
		NC_INC(conn_kept);
	}
}

/*
 * The connections fail first, then the rest are kicked: one that
 * completed its connect() (and so became one that keeps) between the two
 * passes is kicked, not missed.
 */
void nc_conns_chan_down(struct nc_chan *ch, u32 gen)
{
	struct nc_chan_match m = { .ch = ch, .gen = gen };

	nc_conns_fail_matching(nc_match_chan_fail, &m, ECONNRESET);
	nc_socktab_each(nc_kick_chan, &m);
}

/*
 * The channel a connection was opened on is gone.  One that keeps goes
 * on, and asks the peer (ACK|PROBE) whether it still has the connection:
 * a peer that reloaded answers RESET; one that lost only this channel
 * sends again what went down with it.
 */
void nc_conns_rxchan_down(const struct nc_rxchan *rc)
{
	nc_conns_fail_matching(nc_match_rxchan_fail, rc, ECONNRESET);
	nc_socktab_each(nc_kick_rxchan, (void *)rc);
}

/* ---- sending again what lost channels took (nc_rtx_work()) ---- */

static void nc_rtx_batch(struct nc_rtx_frame *rf, void *arg)
{
	struct nc_txframe *f = container_of(rf, struct nc_txframe, rtx);

	/* the batch's reference, until sent; each holds the socket */
	refcount_inc(&f->ref);
	sock_hold(f->owner);
	f->rs_chan = (u32)rf->chan;
	f->rs_gen = rf->gen;
	list_add_tail(&f->rs_node, arg);
}

/* A copy of each batched frame onto its channel; false if one failed. */
static bool nc_rtx_send_batch(struct nc_sock *nsk, struct nc_peer *peer,
			      struct list_head *batch)
{
	struct sock *sk = nc_to_sk(nsk);
	struct nc_txframe *f, *tmp;
	bool ok = true;

	list_for_each_entry_safe(f, tmp, batch, rs_node) {
		struct nc_txframe *c = nc_txframe_copy(f, GFP_KERNEL);
		u32 pay = f->rtx.len;

		list_del(&f->rs_node);
		if (c) {
			sock_hold(sk);
			c->owner = sk;
			atomic_add((int)pay, &nsk->tx_payload);
			atomic_add((int)c->len, &nsk->tx_queued);
			if (nc_chan_xmit(&peer->chans[f->rs_chan], &f->rs_gen, c)) {
				nc_txframe_done(c);
				c = NULL;
			} else {
				NC_INC(rtx_frames);
				NC_ADD(rtx_bytes, pay);
			}
		}
		if (!c) {
			nc_rtx_orphan(nsk, f);	/* the next run tries again */
			ok = false;
		}
		nc_txframe_put(f);
	}
	return ok;
}

/*
 * The only sender of DATA again, per connection that keeps its frames
 * (workqueue non-reentrancy serialises it), for the connection's current
 * incarnation.  Frames whose channel is down or came back as a new
 * incarnation go, as copies marked NC_F_RTX, to the least-loaded channel
 * of their class that is up (any channel of the peer if none is): the
 * receiver drops what it already had.  A control channel that went down
 * is replaced, and the peer gets what may have gone down with it: the
 * receive limit, an ACK|PROBE (its answer releases what it has), and the
 * CLOSE if one was sent.  With no channel up the connection waits,
 * looking again every NC_RTX_RETRY_MS, and fails with ETIMEDOUT after
 * NC_PEER_TIMEOUT_MS.
 */
void nc_rtx_work(struct work_struct *w)
{
	struct nc_sock *nsk = container_of(to_delayed_work(w), struct nc_sock,
					   rtx_work);
	const u32 max = 2 * NC_MAX_CLASS_CHANNELS;
	struct nc_stripe_load *now, *pick;
	struct sock *sk = nc_to_sk(nsk);
	struct nc_chan *ctl = NULL, *txch;
	struct nc_txframe *f;
	bool lat, ctl_lat, resync = false, probe = false, wait = false;
	bool fail = false, again = false, fin = false, gone;
	u32 n, i, base, cls, up = 0, conn_id, txgen, cgen = 0;
	u32 lim = 0, aseq = 0, want = 0, fin_seq = 0;
	struct nc_peer *peer;
	LIST_HEAD(batch);
	struct nc_ctl d;
	int k;

	spin_lock(&nsk->lock);
	if (sk->sk_state != TCP_ESTABLISHED || !nsk->rtx_on) {
		spin_unlock(&nsk->lock);
		goto out;
	}
	peer = nsk->peer;
	lat = nsk->tx_latency;
	ctl_lat = nsk->latency;
	conn_id = nsk->conn_id;
	txch = nsk->txch;
	txgen = nsk->txgen;
	spin_unlock(&nsk->lock);

	/*
	 * The peer's module was replaced by one that does not acknowledge
	 * (its channels' HELLO): it has forgotten the connection, and a
	 * resent copy or a PROBE would make it drop the channel.
	 */
	if (!(READ_ONCE(peer->caps) & NC_CAP_ACK)) {
		__nc_conn_fail(nsk, ECONNRESET, true, &conn_id);
		goto out;
	}

	/* two tables of every channel: too large for the stack */
	now = kmalloc_array(2 * max, sizeof(*now), GFP_KERNEL);
	if (!now) {
		nc_rtx_kick(nsk, msecs_to_jiffies(NC_RTX_RETRY_MS));
		goto out;
	}
	pick = now + max;
	n = nc_peer_load(peer, now, max);
	/* resend within DATA's class; with none of it up, on any channel */
	cls = nc_peer_class(lat, &base);
	for (i = 0; i < n; i++) {
		pick[i] = now[i];
		pick[i].up = now[i].up && i >= base && i < base + cls;
		up += pick[i].up;
	}
	if (!up)
		memcpy(pick, now, n * sizeof(now[0]));
	if (!txch || txch->idx >= n || !now[txch->idx].up ||
	    now[txch->idx].gen != txgen) {
		for (k = 0; k < 2 && !ctl; k++, ctl_lat = !ctl_lat) {
			ctl = nc_peer_chan_up(peer, ctl_lat, nsk->lport,
					      nsk->rport, &cgen, 0);
			if (IS_ERR(ctl))
				ctl = NULL;
		}
		wait = !ctl;
	}

	spin_lock(&nsk->lock);
	if (sk->sk_state != TCP_ESTABLISHED || nsk->conn_id != conn_id) {
		spin_unlock(&nsk->lock);
		kfree(now);
		goto out;
	}
	if (nc_rtx_revalidate(&nsk->rtx, now, n) &&
	    nc_rtx_requeue(&nsk->rtx, pick, n, nc_rtx_batch, &batch) < 0)
		wait = true;
	/* a later loss of the channels they go on finds the connection */
	list_for_each_entry(f, &batch, rs_node) {
		if (f->rs_chan >= ARRAY_SIZE(nsk->st_gen))
			continue;
		WRITE_ONCE(nsk->st_gen[f->rs_chan], f->rs_gen);
		/* the generation before the bit (nc_match_chan()) */
		smp_store_release(&nsk->st_used, nsk->st_used | BIT(f->rs_chan));
	}
	/*
	 * The control channel moves; the peer gets again what may have gone
	 * down with the old one (the limit, the CLOSE) and a PROBE.  Each
	 * stays asked for until it is queued (rtx_resync, rtx_probe).
	 */
	if (ctl && nsk->txch == txch && nsk->txgen == txgen) {
		nsk->txch = ctl;
		nsk->txgen = cgen;
		nsk->rtx_resync = true;
		nsk->rtx_probe = true;
		NC_INC(ctl_rehomed);
	}
	if (!wait) {
		resync = nsk->rtx_resync;
		probe = nsk->rtx_probe && (nsk->rtx.count || !nsk->peer_fin);
		nsk->rtx_resync = false;
		nsk->rtx_probe = false;
	}
	if (resync || probe) {
		nc_ctl_snap(nsk, &d);
		lim = nsk->rxc.lim;
		aseq = nsk->ro.nxt;
		/* answered at once, unless a writer asks about more */
		want = nsk->ack_asked ? nsk->ack_asked_seq : nsk->rtx.una;
		fin = nsk->fin_sent;
		fin_seq = nsk->txc.nxt;
	}
	if (!wait) {
		nsk->rtx_waiting = false;
	} else if (!nsk->rtx_waiting) {
		nsk->rtx_waiting = true;
		nsk->rtx_wait_at = jiffies;
	} else if (time_after(jiffies, nsk->rtx_wait_at +
			      msecs_to_jiffies(NC_PEER_TIMEOUT_MS))) {
		fail = true;
	}
	spin_unlock(&nsk->lock);
	kfree(now);

	again = !nc_rtx_send_batch(nsk, peer, &batch);
	if (resync || probe) {
		bool rs = resync &&
			  (nc_ctl_send(&d, NC_T_CREDIT, lim, 0) ||
			   (fin && nc_ctl_send(&d, NC_T_CLOSE, 0, fin_seq)));
		bool pr = probe && nc_send_ack(&d, aseq, true, want);

		/* not queued (the new channel went too): ask again */
		if (rs || pr) {
			spin_lock(&nsk->lock);
			gone = nsk->conn_id != conn_id;
			if (!gone) {
				nsk->rtx_resync |= rs;
				nsk->rtx_probe |= pr;
			}
			spin_unlock(&nsk->lock);
			again |= !gone;
		}
	}
	if (fail) {
		pr_info_ratelimited("netchannel: no channel to %pI4h for %u ms: connection on port %u timed out\n",
				    &peer->ip, NC_PEER_TIMEOUT_MS, nsk->lport);
		NC_INC(peer_timeouts);
		__nc_conn_fail(nsk, READ_ONCE(nsk->peer_fin) ? EPIPE : ETIMEDOUT,
			       true, &conn_id);
	} else if (wait || again) {
		nc_rtx_kick(nsk, msecs_to_jiffies(NC_RTX_RETRY_MS));
	}
out:
	sock_put(sk);
}

/* ---- receive path (called from channel workers) ---- */

/*
 * Answer a frame for no connection, or a refused CONNECT, with RESET.
 * The peer decides how many of these it provokes, so they are limited:
 * reset_rate a second per peer, and none onto a channel that already
 * holds NC_RST_TXQ_MAX of them (a peer that floods and never reads).
 * Those not sent (these, and a channel down or out of memory) are
 * counted; the peer's connect then times out.  A token is spent even
 * if the channel turns out to be down.
 */
static void nc_reply_reset(struct nc_rxchan *rc, const struct nc_hdr *h)
{
	struct nc_peer *peer = nc_peer_find(rc->peer_ip);
	struct nc_chan *ch;
	bool ok;

	if (!peer)
		return;
	ch = nc_peer_pick_chan(peer, h->flags & NC_F_LATENCY, h->dport,
			       h->sport);
	spin_lock(&peer->rst_lock);
	ok = nc_bucket_take(&peer->rst_bucket, jiffies64_to_msecs(get_jiffies_64()),
			    READ_ONCE(nc_tun.reset_rate));
	spin_unlock(&peer->rst_lock);
	if (!ok || nc_send_rst_reply(ch, h->flags & NC_F_LATENCY, h->dport,
				     h->sport, h->conn_id))
		NC_INC(reset_limited);
}

/* Release a child that never reached accept(). */
static void nc_child_destroy(struct nc_sock *child)
{
	struct sock *sk = nc_to_sk(child);

	nc_conn_fail(child, ECONNRESET, true);
	nc_unhash(child);
	nc_rxq_purge(child, true);
	WRITE_ONCE(sk->sk_state, TCP_CLOSE);
	sock_orphan(sk);
	sock_put(sk);
}

/* Release the children a listener had queued (close, shutdown). */
void nc_destroy_children(struct list_head *children)
{
	struct nc_sock *child, *tmp;

	list_for_each_entry_safe(child, tmp, children, accept_node) {
		list_del_init(&child->accept_node);
		nc_child_destroy(child);
	}
}

/* Children a listener queues for accept(), at most (TCP would delay the rest). */
static u32 nc_acceptq_limit(const struct sock *lsk)
{
	return max_t(u32, READ_ONCE(lsk->sk_max_ack_backlog), 1) * 2 + 64;
}

static void nc_rx_connect(struct nc_rxchan *rc, const struct nc_hdr *h)
{
	bool latency = h->flags & NC_F_LATENCY;
	struct nc_sock *lnsk, *nsk, *old;
	struct nc_peer *peer;
	struct sock *lsk, *sk;
	u32 gen, limit;
	int err;
	bool queued = false;

	peer = nc_peer_find(rc->peer_ip);
	if (!peer)
		return;
	old = nc_lookup(rc->peer_ip, h->dport, h->sport);
	if (old) {
		/*
		 * A retransmitted CONNECT is impossible; a new one for a
		 * tuple still in use is refused.
		 */
		if (old->conn_id != h->conn_id)
			nc_reply_reset(rc, h);
		sock_put(nc_to_sk(old));
		return;
	}
	/* a peer reaches us at our table address; we reach ourselves on 127/8 too */
	if (!nc_daddr_ok(h->daddr, nc_cfg.local_ip,
			 rc->peer_ip == nc_cfg.local_ip))
		lnsk = NULL;
	else
		lnsk = nc_lookup_listener(rc->peer_ip, h->daddr, h->dport,
					  h->sport);
	if (!lnsk) {
		NC_INC(conn_refused);
		nc_reply_reset(rc, h);
		return;
	}
	lsk = nc_to_sk(lnsk);
	/*
	 * A full accept queue refuses at once, with a RESET under the limit,
	 * not with a child that sends ACCEPT and then RESET (the check after
	 * the ACCEPT below stays for a queue that filled meanwhile).
	 */
	if (READ_ONCE(lnsk->acceptq_len) >= nc_acceptq_limit(lsk))
		goto refuse;

	sk = sk_alloc(sock_net(lsk), PF_INET, GFP_KERNEL, lsk->sk_prot, 0);
	if (!sk)
		goto refuse;
	sock_init_data(NULL, sk);
	sk->sk_type = lsk->sk_type;
	sk->sk_protocol = lsk->sk_protocol;
	percpu_counter_inc(&nc_sockets_allocated);
	sk->sk_destruct = nc_sock_destruct;
#ifdef CONFIG_MEMCG
	/* made by a kernel worker: charged to the listener's creator */
	if (lsk->sk_memcg && !sk->sk_memcg) {
		css_get(&lsk->sk_memcg->css);
		sk->sk_memcg = lsk->sk_memcg;
	}
#endif
	sk->sk_rcvbuf = READ_ONCE(lsk->sk_rcvbuf);
	sk->sk_userlocks = lsk->sk_userlocks;
	sk->sk_sndbuf = READ_ONCE(lsk->sk_sndbuf);
	sk->sk_priority = READ_ONCE(lsk->sk_priority);
	/* SO_LINGER, as TCP's children inherit it */
	if (sock_flag(lsk, SOCK_LINGER))
		sock_set_flag(sk, SOCK_LINGER);
	sk->sk_lingertime = READ_ONCE(lsk->sk_lingertime);
	nsk = nc_sk(sk);
	nc_sock_setup(nsk);
	INIT_DELAYED_WORK(&nsk->ack_work, nc_ack_work);
	INIT_DELAYED_WORK(&nsk->rtx_work, nc_rtx_work);
	nsk->inet.uc_ttl = -1;
	/*
	 * The peer's address: its table address, or 127.0.0.1 for this
	 * host's own connection from a loopback address (NC_F_LOOPBACK),
	 * as TCP's getpeername() shows it.  Another peer cannot claim it.
	 */
	nsk->inet.inet_daddr = (h->flags & NC_F_LOOPBACK) &&
			       rc->peer_ip == nc_cfg.local_ip ?
			       htonl(INADDR_LOOPBACK) : htonl(rc->peer_ip);
	nsk->inet.inet_dport = htons(h->sport);
	/* the address the connection was made to, as TCP's getsockname() */
	nsk->inet.inet_rcv_saddr = htonl(h->daddr);
	nsk->inet.inet_saddr = htonl(h->daddr);
	nsk->inet.inet_num = h->dport;
	nsk->inet.inet_sport = htons(h->dport);
	nsk->peer = peer;
	nsk->lport = h->dport;
	nsk->rport = h->sport;
	nsk->conn_id = h->conn_id;
	nsk->latency = latency;
	nsk->rxchan_id = rc->id;
	nsk->txch = nc_peer_chan_up(peer, latency, nsk->lport, nsk->rport,
				    &gen, 0);
	nc_txc_init(&nsk->txc, 0, h->credit);
	/* acknowledgements both ways if the peer's channel HELLO offered them */
	nc_rtx_reset(nsk, rc->caps & NC_CAP_ACK);
	spin_lock(&nsk->lock);
	err = __nc_rx_reserve(nsk, nc_sock_window(sk));
	spin_unlock(&nsk->lock);
	if (err && nsk->mem_short)
		nc_room_later(lnsk);
	nc_set_key(nsk, rc->peer_ip, nsk->rport);
	sk->sk_state = TCP_ESTABLISHED;

	if (err || IS_ERR(nsk->txch) || nc_hash(nsk)) {
		nsk->txch = NULL;
		sk->sk_state = TCP_CLOSE;
		sock_orphan(sk);
		sock_put(sk);
		goto refuse;
	}
	nsk->txgen = gen;
	nc_stripe_start(nsk, nsk->txch, gen, READ_ONCE(sk->sk_priority));
	/* ACCEPT must precede any DATA the application sends. */
	if (nc_send(nsk, NC_T_ACCEPT, nsk->rxc.lim)) {
		nc_child_destroy(nsk);
		sock_put(lsk);
		return;
	}

	spin_lock(&lnsk->lock);
	limit = nc_acceptq_limit(lsk);
	if (lsk->sk_state == TCP_LISTEN && lnsk->acceptq_len < limit) {
		list_add_tail(&nsk->accept_node, &lnsk->acceptq);
		WRITE_ONCE(lnsk->acceptq_len, lnsk->acceptq_len + 1);
		queued = true;
	}
	spin_unlock(&lnsk->lock);
	if (queued) {
		NC_INC(conn_accepted);
		nc_wake(lsk, EPOLLIN | EPOLLRDNORM);
	} else {
		NC_INC(conn_refused);
		nc_child_destroy(nsk);
	}
	sock_put(lsk);
	return;

refuse:
	NC_INC(conn_refused);
	nc_reply_reset(rc, h);
	sock_put(lsk);
}

struct nc_grant {
	bool grant;
	bool ack;
	bool ack_later;
	u32 credit;
	u32 prev;
	u32 ack_seq;
};

/*
 * Chunk c is next in order and counted by nc_rxc_receive(), its bytes
 * charged: queue it for the reader, packed behind the last chunk when
 * small, or, the reader gone, drop it and grant its credit again.  Under
 * nsk->lock; chunks to free go on *drop.
 */
static void nc_rx_deliver(struct nc_sock *nsk, struct nc_chunk *c,
			  struct list_head *drop, struct nc_grant *g)
{
	struct sock *sk = nc_to_sk(nsk);
	struct nc_chunk *t;
	u32 credit, prev;

	if (sk->sk_shutdown & RCV_SHUTDOWN) {
		/* reader is gone: discard, but keep the sender moving */
		if (nc_rx_consumed(nsk, c->len, true, false, &credit, &prev)) {
			if (!g->grant)
				g->prev = prev;
			g->grant = true;
			g->credit = credit;
		}
		list_add_tail(&c->list, drop);
		return;
	}
	t = list_empty(&nsk->rxq) ? NULL :
		list_last_entry(&nsk->rxq, struct nc_chunk, list);
	WRITE_ONCE(nsk->rxq_bytes, nsk->rxq_bytes + c->len);
	if (c->len <= NC_RX_SMALL && t && t->cap - t->len >= c->len) {
		memcpy(t->data + t->len, c->data, c->len);
		t->len += c->len;
		list_add_tail(&c->list, drop);
	} else {
		list_add_tail(&c->list, &nsk->rxq);
	}
}

/* What a received chunk took from the allocator. */
static u32 nc_chunk_alloc(const struct nc_chunk *c)
{
	return (u32)sizeof(*c) + c->cap;
}

/*
 * The most the chunks waiting in the reorder queue may take: what the
 * window lets a peer send ahead of a gap, twice over for the buffers'
 * own size, and two full frames.  Only a peer that sends small frames
 * with gaps between them (each in a buffer of its own) gets there.
 */
static u64 nc_ro_alloc_max(const struct nc_sock *nsk)
{
	return 2 * (u64)nsk->rxc.win + 2 * (NC_MAX_PAYLOAD + NC_RX_PACK);
}

/*
 * Deliver what the reorder queue has in order; *fin when that reached
 * the final offset.  Under nsk->lock, ESTABLISHED.  A violation's name or
 * NULL.
 */
static const char *nc_rx_drain(struct nc_sock *nsk, struct list_head *drop,
			       struct nc_grant *g, bool *queued, bool *fin)
{
	struct nc_ro_frag *f;
	struct nc_chunk *c;

	while ((f = nc_ro_pop(&nsk->ro))) {
		c = container_of(f, struct nc_chunk, ro);
		nsk->ro_alloc -= nc_chunk_alloc(c);
		if (nc_rxc_receive(&nsk->rxc, c->len)) {
			nc_mem_uncharge(nsk, c->len);
			list_add_tail(&c->list, drop);
			return "overran its credit";
		}
		nc_rx_deliver(nsk, c, drop, g);
		*queued = true;
	}
	if (nc_ro_fin_reached(&nsk->ro) && !nsk->peer_fin) {
		nsk->peer_fin = true;
		*fin = true;
	}
	if (nc_ack_now(nsk, &g->ack_seq))
		g->ack = true;
	else if (*queued && nsk->rtx_on && nsk->ro.nxt != nsk->ack_sent)
		g->ack_later = true;
	return NULL;
}

/*
 * The delayed ACK: bytes that came and were not acknowledged (less than
 * an interval, the peer's last write, say) are, NC_ACK_DELAY_MS after the
 * first of them, so a sender does not keep them for as long as the
 * connection stays quiet.  Holds a socket reference while queued.
 */
void nc_ack_work(struct work_struct *w)
{
	struct nc_sock *nsk = container_of(to_delayed_work(w), struct nc_sock,
					   ack_work);
	struct sock *sk = nc_to_sk(nsk);
	struct nc_ctl d;
	bool go = false;
	u32 seq = 0;

	spin_lock(&nsk->lock);
	go = sk->sk_state == TCP_ESTABLISHED && nc_ack_pending(nsk, &seq);
	if (go)
		nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);
	if (go)
		nc_send_ack(&d, seq, false, 0);
	sock_put(sk);
}

static void nc_ack_later(struct nc_sock *nsk)
{
	struct sock *sk = nc_to_sk(nsk);

	sock_hold(sk);
	if (!queue_delayed_work(nc_ctl_wq, &nsk->ack_work,
				msecs_to_jiffies(NC_ACK_DELAY_MS)))
		sock_put(sk);	/* queued already: that one covers these */
}

/* After nsk->lock: the CREDIT and the ACK nc_rx_drain() decided on. */
static void nc_rx_grant_send(struct nc_sock *nsk, const struct nc_ctl *d,
			     const struct nc_grant *g)
{
	if (g->grant)
		nc_send_credit(nsk, d, g->credit, g->prev);
	if (g->ack)
		nc_send_ack(d, g->ack_seq, false, 0);
	else if (g->ack_later)
		nc_ack_later(nsk);
}

/*
 * After nc_rx_drain(), outside nsk->lock: free the chunks it let go, and
 * reset the connection if the peer broke the rules (true: it did).
 */
static bool nc_rx_done(struct nc_sock *nsk, struct list_head *drop,
		       const char *violation, u32 conn_id)
{
	struct nc_chunk *c, *tmp;

	list_for_each_entry_safe(c, tmp, drop, list)
		kvfree(c);
	if (!violation)
		return false;
	pr_warn_ratelimited("netchannel: peer %s on port %u\n", violation,
			    nsk->lport);
	NC_INC(proto_errors);
	__nc_conn_fail(nsk, ECONNRESET, true, &conn_id);
	return true;
}

/*
 * A DATA frame starting at offset seq came on the peer's channel chan_idx.
 * Frames of a striped connection arrive on several channels: one ahead
 * of a gap waits in the reorder queue, and each that fills it releases
 * those behind it.  Every frame must lie within the credit granted and
 * not overlap another; anything else is a broken or lying peer.  Waiting
 * frames are charged as queued ones are: all lie within the window.
 * DATA striped by the accepting side may overtake its ACCEPT: it waits
 * until the ACCEPT is in.
 */
static void nc_rx_data(struct nc_sock *nsk, struct nc_chunk *c,
		       const struct nc_hdr *h)
{
	struct nc_ctl d = { };
	struct sock *sk = nc_to_sk(nsk);
	const char *violation = NULL;
	struct nc_grant g = { };
	bool queued = false, fin = false, dup;
	struct nc_ro_frag *prev;
	struct nc_chunk *t;
	LIST_HEAD(drop);
	int r;

	spin_lock(&nsk->lock);
	/* an old incarnation's frame, looked up before a new connect() */
	if ((sk->sk_state != TCP_ESTABLISHED && sk->sk_state != TCP_SYN_SENT) ||
	    nsk->conn_id != h->conn_id) {
		spin_unlock(&nsk->lock);
		kvfree(c);
		return;
	}
	c->ro.seq = h->seq;
	c->ro.len = c->len;
	/* the limit only grows here; behind it after an ungrant: keep it */
	nc_ro_set_limit(&nsk->ro, nsk->rxc.lim);
	/*
	 * A repeat of what came (a retransmission) first: the paths below
	 * would take it for new bytes, merging it behind the frame it
	 * followed or counting it against the small-frame budget.
	 */
	dup = nc_ro_dup(&nsk->ro, h->seq, c->len);
	/* a small frame that continues a waiting one goes into its buffer */
	prev = !dup && c->len <= NC_RX_SMALL ? nc_ro_before(&nsk->ro, h->seq) : NULL;
	t = prev ? container_of(prev, struct nc_chunk, ro) : NULL;
	if (dup) {
		nsk->ro.dups++;
		r = NC_RO_DUP;
	} else if (t && t->cap - t->len >= c->len) {
		r = nc_ro_extend(&nsk->ro, prev, c->len);
		if (!r) {
			nsk->ack_frames++;
			memcpy(t->data + t->len, c->data, c->len);
			t->len += c->len;
			nc_mem_charge(nsk, c->len);
			NC_INC(rx_ooo);
		}
	} else if (h->seq != nsk->ro.nxt &&
		   nsk->ro_alloc + nc_chunk_alloc(c) > nc_ro_alloc_max(nsk)) {
		r = -E2BIG;
	} else {
		r = nc_ro_insert(&nsk->ro, &c->ro);
		if (r == NC_RO_QUEUED) {
			nsk->ack_frames++;
			if (h->seq != nsk->ro.nxt)
				NC_INC(rx_ooo);
			nsk->ro_alloc += nc_chunk_alloc(c);
			nc_mem_charge(nsk, c->len);
			c = NULL;
			if (sk->sk_state == TCP_ESTABLISHED)
				violation = nc_rx_drain(nsk, &drop, &g,
							&queued, &fin);
		}	/* else a duplicate: dropped */
	}
	if (r == NC_RO_DUP)
		NC_INC(rx_dups);
	if (r == -ENOBUFS)
		violation = "overran its credit";
	else if (r == -E2BIG)
		violation = "sent too many small frames ahead of a gap";
	else if (r < 0)
		violation = "sent data at a wrong offset";
	if (g.grant || g.ack)
		nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);

	kvfree(c);
	if (nc_rx_done(nsk, &drop, violation, h->conn_id))
		return;
	if (queued || fin)
		nc_wake(sk, EPOLLIN | EPOLLRDNORM | (fin ? EPOLLRDHUP : 0));
	nc_rx_grant_send(nsk, &d, &g);
}

/* The connection is up; DATA that overtook the ACCEPT goes to the reader. */
static void nc_rx_accept(struct nc_sock *nsk, struct nc_rxchan *rc,
			 const struct nc_hdr *h)
{
	struct sock *sk = nc_to_sk(nsk);
	bool fin = false, queued = false, eof = false;
	const char *violation = NULL;
	struct nc_grant g = { };
	struct nc_ctl d = { };
	u32 fin_seq = 0;
	LIST_HEAD(drop);

	spin_lock(&nsk->lock);
	if (sk->sk_state == TCP_SYN_SENT && nsk->conn_id == h->conn_id) {
		nc_ctl_snap(nsk, &d);
		nc_txc_init(&nsk->txc, 0, h->credit);
		/* the acceptor acknowledges if its channel's HELLO said so */
		nc_rtx_reset(nsk, rc->caps & NC_CAP_ACK);
		nsk->rxchan_id = rc->id;
		WRITE_ONCE(sk->sk_state, TCP_ESTABLISHED);
		/* shutdown(SHUT_WR) came before the connection was up */
		if ((sk->sk_shutdown & SEND_SHUTDOWN) && !nsk->fin_sent) {
			nsk->fin_sent = true;
			fin = true;
			fin_seq = nsk->txc.nxt;
		}
		violation = nc_rx_drain(nsk, &drop, &g, &queued, &eof);
	}
	spin_unlock(&nsk->lock);
	if (nc_rx_done(nsk, &drop, violation, h->conn_id))
		return;
	if (fin)
		nc_ctl_send(&d, NC_T_CLOSE, 0, fin_seq);
	nc_rx_grant_send(nsk, &d, &g);
}

/*
 * ACK from a peer that acknowledges: release the DATA it covers and wake
 * writers waiting for that memory; answer a PROBE.  An ACK beyond what
 * was sent, or inside a frame, is a broken or lying peer.
 */
static void nc_rx_ack(struct nc_sock *nsk, const struct nc_hdr *h)
{
	struct sock *sk = nc_to_sk(nsk);
	bool answer = false;
	struct nc_ctl d = { };
	LIST_HEAD(freed);
	u32 seq = 0;
	int r = 0;

	spin_lock(&nsk->lock);
	if (nsk->conn_id != h->conn_id || sk->sk_state != TCP_ESTABLISHED) {
		spin_unlock(&nsk->lock);
		return;		/* an older incarnation's */
	}
	if (!nsk->rtx_on) {
		spin_unlock(&nsk->lock);
		if (!(h->flags & NC_F_PROBE))
			return;	/* ACKs for what this end does not keep */
		/*
		 * The peer keeps DATA for ACKs this connection was set up
		 * without (a HELLO's capability lost on the way): its writer
		 * would wait for ever.  End it as a protocol error.
		 */
		pr_warn_ratelimited("netchannel: peer waits for acknowledgements on port %u, which its HELLO did not offer\n",
				    nsk->lport);
		NC_INC(proto_errors);
		__nc_conn_fail(nsk, ECONNRESET, true, &h->conn_id);
		return;
	}
	r = nc_rtx_acked_locked(nsk, h->seq, &freed);
	if (r > 0)
		NC_INC(ack_rcvd);
	if (r >= 0 && (h->flags & NC_F_PROBE)) {
		nsk->ack_want = h->credit;
		nsk->ack_want_on = true;
		answer = nc_ack_now(nsk, &seq);
		if (answer)
			nc_ctl_snap(nsk, &d);
	}
	spin_unlock(&nsk->lock);
	nc_rtx_put_list(&freed);
	if (r < 0) {
		pr_warn_ratelimited("netchannel: peer acknowledged data never sent on port %u\n",
				    nsk->lport);
		NC_INC(proto_errors);
		__nc_conn_fail(nsk, ECONNRESET, true, &h->conn_id);
		return;
	}
	if (answer)
		nc_send_ack(&d, seq, false, 0);
}

void nc_rx_frame(struct nc_rxchan *rc, const struct nc_hdr *h,
		 struct nc_chunk *chunk)
{
	struct nc_sock *nsk;
	struct nc_ctl d;
	struct sock *sk;
	bool fin, ack;
	u32 aseq = 0;
	int r;

	if (h->type == NC_T_CONNECT) {
		nc_rx_connect(rc, h);
		return;
	}
	nsk = nc_lookup(rc->peer_ip, h->dport, h->sport);
	if (!nsk || nsk->conn_id != h->conn_id) {
		/* a plain ACK to a connection closed meanwhile is no news */
		if (h->type != NC_T_ACK || (h->flags & NC_F_PROBE))
			NC_INC(unknown_conn);
		/*
		 * DATA for no connection, or a PROBE asking whether it is
		 * still there, gets RESET; a copy sent again (RTX) does not:
		 * its connection may have ended after the first came.
		 */
		if ((h->type == NC_T_DATA && !(h->flags & NC_F_RTX)) ||
		    (h->type == NC_T_ACK && (h->flags & NC_F_PROBE)))
			nc_reply_reset(rc, h);
		kvfree(chunk);
		if (nsk)
			sock_put(nc_to_sk(nsk));
		return;
	}
	sk = nc_to_sk(nsk);

	switch (h->type) {
	case NC_T_DATA:
		nc_rx_data(nsk, chunk, h);
		chunk = NULL;
		break;
	case NC_T_ACCEPT:
		nc_rx_accept(nsk, rc, h);
		NC_INC(conn_opened);
		nc_wake(sk, NC_WAKE_ALL);
		break;
	case NC_T_RESET:
		/*
		 * As tcp_reset(): refused while connecting; EPIPE once the
		 * peer's CLOSE came (TCP's CLOSE_WAIT: reads still end in
		 * EOF, nc_recvmsg()); reset otherwise.
		 */
		__nc_conn_fail(nsk, sk->sk_state == TCP_SYN_SENT ? ECONNREFUSED :
			       READ_ONCE(nsk->peer_fin) ? EPIPE : ECONNRESET,
			       false, &h->conn_id);
		break;
	case NC_T_CLOSE:
		/*
		 * The final offset: data before it may still be on its way
		 * on other channels (striping); EOF once all of it came.
		 */
		spin_lock(&nsk->lock);
		if (nsk->conn_id != h->conn_id) {
			spin_unlock(&nsk->lock);
			break;	/* an older incarnation's */
		}
		r = 0;
		fin = sk->sk_state != TCP_ESTABLISHED;
		if (!fin) {
			nc_ro_set_limit(&nsk->ro, nsk->rxc.lim);
			r = nc_ro_set_fin(&nsk->ro, h->seq);
			fin = !r && nc_ro_fin_reached(&nsk->ro);
		}
		if (fin)
			nsk->peer_fin = true;
		/* all came: acknowledge the final offset now */
		ack = fin && sk->sk_state == TCP_ESTABLISHED &&
		      nc_ack_now(nsk, &aseq);
		if (ack)
			nc_ctl_snap(nsk, &d);
		spin_unlock(&nsk->lock);
		if (ack)
			nc_send_ack(&d, aseq, false, 0);
		if (fin) {
			nc_wake(sk, EPOLLIN | EPOLLRDNORM | EPOLLRDHUP);
			break;
		}
		if (!r)
			break;	/* the rest is on its way */
		pr_warn_ratelimited("netchannel: peer closed at a wrong final offset on port %u\n",
				    nsk->lport);
		NC_INC(proto_errors);
		__nc_conn_fail(nsk, ECONNRESET, true, &h->conn_id);
		break;
	case NC_T_CREDIT:
		spin_lock(&nsk->lock);
		r = nsk->conn_id == h->conn_id ?
			nc_txc_update(&nsk->txc, h->credit) : 0;
		spin_unlock(&nsk->lock);
		if (r < 0) {
			NC_INC(proto_errors);
			__nc_conn_fail(nsk, ECONNRESET, true, &h->conn_id);
		} else if (r > 0) {
			nc_wake(sk, EPOLLOUT | EPOLLWRNORM);
		}
		break;
	case NC_T_ACK:
		nc_rx_ack(nsk, h);
		break;
	default:
		break;
	}
	kvfree(chunk);
	sock_put(sk);
}
