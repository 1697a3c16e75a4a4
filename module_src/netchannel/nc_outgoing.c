// SPDX-License-Identifier: GPL-2.0
/*
 * nc_outgoing.c - NetChannel virtual sockets: what a connection sends.
 * Control frames (from a snapshot of the connection's address, struct
 * nc_ctl, so a worker never names a newer incarnation), credit grants,
 * and the channel each DATA frame goes on: the connection's first
 * channel, a change of class after SO_PRIORITY, striping over the
 * channels of the class.
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
 * The connection's control address.  connect() rewrites it, under
 * lock_sock() only, once the socket is in TCP_CLOSE: read it under
 * lock_sock(), or under nsk->lock while the incarnation is the one that
 * matters (ESTABLISHED or SYN_SENT with its conn_id).  A worker that
 * sends after it dropped nsk->lock sends from this copy: read again,
 * the fields could name a new connection, and a RESET or CREDIT meant
 * for the old one would reach the new one at the peer.
 */
void nc_ctl_snap(const struct nc_sock *nsk, struct nc_ctl *d)
{
	d->ch = nsk->txch;
	d->gen = nsk->txgen;
	d->conn_id = nsk->conn_id;
	d->flags = nsk->latency ? NC_F_LATENCY : 0;
	d->lport = nsk->lport;
	d->rport = nsk->rport;
}

/*
 * A control frame to d's connection.  If d's channel went down (or came
 * back as a new incarnation) since d was read, another channel of the
 * class that is up takes it, or one of the other class: the peer looks
 * a control frame up by its ports, whatever channel brought it.  Not a
 * CONNECT, whose channel connect() chose and waits on.
 */
static int nc_ctl_send_flags(const struct nc_ctl *d, u8 type, u16 flags,
			     u32 credit, u32 ext)
{
	bool lat = d->flags & NC_F_LATENCY;
	struct nc_chan *ch;
	int err, k;
	u32 gen;

	err = nc_send_ctrl(d->ch, &d->gen, type, flags, d->lport, d->rport,
			   d->conn_id, credit, ext);
	if (err != -ECONNRESET || type == NC_T_CONNECT)
		return err;
	for (k = 0; k < 2 && err == -ECONNRESET; k++, lat = !lat) {
		ch = nc_peer_chan_up(d->ch->peer, lat, d->lport, d->rport,
				     &gen, 0);
		if (!IS_ERR(ch))
			err = nc_send_ctrl(ch, &gen, type, flags, d->lport,
					   d->rport, d->conn_id, credit, ext);
	}
	return err;
}

int nc_ctl_send(const struct nc_ctl *d, u8 type, u32 credit, u32 ext)
{
	return nc_ctl_send_flags(d, type, d->flags, credit, ext);
}

/*
 * A control frame of this connection, by lock_sock()'s owner.  CONNECT
 * carries the destination address asked for (the listener is matched on
 * it), CLOSE the final offset (one past the last byte sent: the peer
 * checks it got them all).
 */
int nc_send(struct nc_sock *nsk, u8 type, u32 credit)
{
	struct nc_ctl d;
	u32 ext = 0;

	if (type == NC_T_CONNECT)
		ext = ntohl(nsk->inet.inet_daddr);
	else if (type == NC_T_CLOSE)
		ext = READ_ONCE(nsk->txc.nxt);
	spin_lock(&nsk->lock);	/* nc_rtx_work() may move the channel */
	nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);
	/* to this host from a loopback address: the acceptor's peer is that */
	if (type == NC_T_CONNECT && nsk->peer->ip == nc_cfg.local_ip &&
	    ipv4_is_loopback(nsk->inet.inet_saddr))
		d.flags |= NC_F_LOOPBACK;
	return nc_ctl_send(&d, type, credit, ext);
}

/*
 * Send the CREDIT for a grant nc_rx_consumed() has counted (the limit was
 * prev before it) to d, the connection as it was then.  If it cannot be
 * queued, give the grant back so the next read offers it again: the peer
 * would otherwise wait for a limit it never gets (see nc_rxc_ungrant());
 * not to a new connection the socket has made since.
 */
void nc_send_credit(struct nc_sock *nsk, const struct nc_ctl *d,
		    u32 credit, u32 prev)
{
	bool resync = false;
	int err = nc_ctl_send(d, NC_T_CREDIT, credit, 0);

	if (!err) {
		NC_INC(credit_sent);
		return;
	}
	/*
	 * A connection that keeps its DATA rides out a lost channel: its
	 * nc_rtx_work() sends the limit once a channel is up (a reader that
	 * read everything would offer nothing again).  Others take the
	 * grant back for the next read.
	 */
	spin_lock(&nsk->lock);
	if (READ_ONCE(nsk->conn_id) == d->conn_id) {
		resync = nsk->rtx_on &&
			 nc_to_sk(nsk)->sk_state == TCP_ESTABLISHED;
		if (resync)
			nsk->rtx_resync = true;
		else
			nc_rxc_ungrant(&nsk->rxc, credit, prev);
	}
	spin_unlock(&nsk->lock);
	if (resync) {
		NC_INC(credit_deferred);
		nc_rtx_kick(nsk, 0);
	}
	nc_dbg("CREDIT %u on port %u not sent (%d), offered again\n", credit,
	       d->lport, err);
}

/* nc_send_credit() by lock_sock()'s owner: the connection as it is. */
void nc_send_credit_owner(struct nc_sock *nsk, u32 credit, u32 prev)
{
	struct nc_ctl d;

	spin_lock(&nsk->lock);
	nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);
	nc_send_credit(nsk, &d, credit, prev);
}

/*
 * ---- Acknowledgements (a peer that announced NC_CAP_ACK) ----
 *
 * Under nsk->lock, as receiver: whether to acknowledge now, and what
 * (*seq, the next offset expected: on a frame boundary).  Every
 * nc_ack_due() interval (in bytes or in frames), once the peer's final
 * offset has come, and when the offset a PROBE asked about is reached.
 * Answers to PROBEs that nothing else made due go at most every 200 ms:
 * a peer that sends a PROBE after each byte and reads nothing cannot
 * make us queue ACKs faster than that.
 */
bool nc_ack_now(struct nc_sock *nsk, u32 *seq)
{
	u32 nxt = nsk->ro.nxt;
	bool want = nsk->ack_want_on && !nc_seq_lt(nxt, nsk->ack_want);

	if (!nsk->rtx_on)
		return false;
	if (nxt != nsk->ack_sent &&
	    (nsk->peer_fin || nc_ack_due(nxt, nsk->ack_sent, nsk->rxc.win,
					 nsk->ack_frames)))
		goto ack;	/* due anyway: it answers a PROBE too */
	/*
	 * Only a PROBE's answer: at most one each 200 ms.  One held back
	 * stays asked for; bytes not acknowledged yet have the delayed ACK.
	 */
	if (!want || time_before(jiffies, nsk->ack_rep_at))
		return false;
	nsk->ack_rep_at = jiffies + HZ / 5;
ack:
	if (want)
		nsk->ack_want_on = false;
	nc_ack_pending(nsk, seq);	/* a PROBE's answer may repeat the last */
	return true;
}

/*
 * Under nsk->lock: acknowledge whatever came since the last ACK (the
 * delayed ACK, close()); false if nothing did.  *seq is the offset
 * either way, and it counts as sent.
 */
bool nc_ack_pending(struct nc_sock *nsk, u32 *seq)
{
	bool news = nsk->rtx_on && nsk->ro.nxt != nsk->ack_sent;

	*seq = nsk->ro.nxt;
	nsk->ack_sent = *seq;
	nsk->ack_frames = 0;
	return news;
}

/*
 * ACK seq to d's connection; with probe, ask for an ACK once every byte
 * before want has come (want travels in the credit field).  An ACK that
 * cannot be queued is not offered again: the next one covers it.
 */
int nc_send_ack(const struct nc_ctl *d, u32 seq, bool probe, u32 want)
{
	int err = nc_ctl_send_flags(d, NC_T_ACK,
				    d->flags | (probe ? NC_F_PROBE : 0),
				    probe ? want : 0, seq);

	if (err)
		return err;
	if (probe)
		NC_INC(ack_probes);
	else
		NC_INC(ack_sent);
	return 0;
}

/*
 * As sender, under lock_sock(): a writer waits for the frames kept for
 * the peer's ACK to go.  Ask the peer to acknowledge everything sent so
 * far, unless such a question went out less than NC_PROBE_AGAIN_MS ago
 * (its answer may have been lost: the writer asks again each time it
 * wakes after that).  The PROBE's own offset acknowledges what this side
 * received.
 */
void nc_tx_probe(struct nc_sock *nsk)
{
	struct sock *sk = nc_to_sk(nsk);
	u32 seq = 0, want = 0;
	struct nc_ctl d;
	bool go;

	spin_lock(&nsk->lock);
	go = nsk->rtx_on && nsk->rtx.count && sk->sk_state == TCP_ESTABLISHED &&
	     (!nsk->ack_asked ||
	      time_after(jiffies, nsk->ack_asked_at +
				  msecs_to_jiffies(NC_PROBE_AGAIN_MS)));
	if (go) {
		nsk->ack_asked = true;
		nsk->ack_asked_at = jiffies;
		want = nsk->rtx.nxt;
		nsk->ack_asked_seq = want;
		seq = nsk->ro.nxt;
		nc_ctl_snap(nsk, &d);
	}
	spin_unlock(&nsk->lock);
	if (!go || !nc_send_ack(&d, seq, true, want))
		return;
	/* not queued: the next write asks again */
	spin_lock(&nsk->lock);
	if (nsk->conn_id == d.conn_id)
		nsk->ack_asked = false;
	spin_unlock(&nsk->lock);
}

/*
 * Have nc_rtx_work() look at the connection after delay (jiffies): a
 * channel it used went down, or it waits for one to come up.  The work
 * holds a socket reference while queued.  Any context.
 */
void nc_rtx_kick(struct nc_sock *nsk, unsigned long delay)
{
	struct sock *sk = nc_to_sk(nsk);
	bool pending;

	sock_hold(sk);
	/* now: sooner than a retry queued for later; later: not later still */
	if (delay)
		pending = !queue_delayed_work(nc_ctl_wq, &nsk->rtx_work, delay);
	else
		pending = mod_delayed_work(nc_ctl_wq, &nsk->rtx_work, 0);
	if (pending)
		sock_put(sk);	/* the queued work holds one already */
}

/*
 * DATA starts on the connection's first channel, ch of generation gen;
 * prio is the socket priority its class was chosen from.
 */
void nc_stripe_start(struct nc_sock *nsk, struct nc_chan *ch, u32 gen,
		     u32 prio)
{
	u32 base, i = ch->idx;

	BUILD_BUG_ON(ARRAY_SIZE(nsk->st_gen) > 32);
	nc_peer_class(nsk->latency, &base);
	nc_stripe_init(&nsk->st, (int)(i - base));
	nsk->st.margin = NC_STRIPE_MARGIN;
	nsk->tx_latency = nsk->latency;
	nsk->tx_prio = prio;
	nsk->st_gen[i] = gen;
	/* st_gen[i] before its bit: nc_match_chan() reads them unlocked */
	smp_store_release(&nsk->st_used, BIT(i));
}

/*
 * SO_PRIORITY changed since the connection began (or since the last
 * change): DATA from now on goes on the channels of the class the new
 * priority names, as TCP applies a new priority to the segments it sends
 * next.  Control frames stay on the connection's channel, and the
 * receiver orders DATA whatever channel brought it.  A priority the
 * acceptor inherited from its listener is not a change: the child
 * answers in the class its peer chose.  While no channel of the new class
 * is up, DATA stays where it was and the next send tries again (connect()
 * would wait for one; a send must not fail a healthy connection).  Under
 * lock_sock().
 */
void nc_tx_class(struct nc_sock *nsk)
{
	u32 prio = READ_ONCE(nc_to_sk(nsk)->sk_priority), base, old;
	struct nc_chan *ch;
	bool lat;
	u32 gen;

	if (prio == nsk->tx_prio)
		return;
	lat = prio >= (u32)READ_ONCE(nc_tun.latency_priority);
	nc_peer_class(lat, &base);
	nc_peer_class(nsk->tx_latency, &old);
	if (base == old) {	/* the same channels (lat=0): nothing moves */
		nsk->tx_prio = prio;
		nsk->tx_latency = lat;
		return;
	}
	ch = nc_peer_chan_up(nsk->peer, lat, nsk->lport, nsk->rport, &gen, 0);
	if (IS_ERR(ch))
		return;
	nsk->tx_prio = prio;
	nsk->tx_latency = lat;
	nc_stripe_init(&nsk->st, (int)(ch->idx - base));
	nsk->st.margin = NC_STRIPE_MARGIN;
	NC_INC(class_switches);
}

/*
 * The channel for the connection's next DATA frame, and its generation
 * in *gen.  Striping (net.netchannel.stripe): while frames of the
 * connection wait to be sent, each new one joins the least-loaded channel
 * of the class.  A channel that went down after DATA went on it lost that
 * DATA: NULL, the connection fails (nc_match_chan() does the same from
 * the other side), unless the connection keeps its frames for the peer's
 * ACK: they are sent again.  Under lock_sock().
 */
struct nc_chan *nc_tx_chan(struct nc_sock *nsk, u32 *gen, u32 len)
{
	/*
	 * A small frame stays where the last one went: small frames that
	 * overtake a large one then continue each other, and the receiver
	 * keeps them in one buffer (nc_ro_extend()).
	 */
	bool stripe = READ_ONCE(nc_tun.stripe), ok = true;
	u32 i, frames = stripe && len > NC_RX_SMALL &&
			atomic_read(&nsk->tx_queued) ? 2 : 1;
	int prev = nsk->st.cur;
	struct nc_chan *ch;

	/* without striping, DATA keeps to one channel of its class */
	if (!stripe && nsk->tx_latency == nsk->latency) {
		spin_lock(&nsk->lock);	/* nc_rtx_work() may move it */
		*gen = nsk->txgen;
		ch = nsk->txch;
		spin_unlock(&nsk->lock);
		return ch;
	}
	ch = nc_peer_stripe(nsk->peer, nsk->tx_latency, &nsk->st, frames, gen);
	if (!ch)
		return NULL;
	i = ch->idx;
	spin_lock(&nsk->lock);
	if (!(nsk->st_used & BIT(i))) {
		WRITE_ONCE(nsk->st_gen[i], *gen);
		/* the generation before the bit (nc_match_chan()) */
		smp_store_release(&nsk->st_used, nsk->st_used | BIT(i));
	} else if (nsk->st_gen[i] != *gen) {
		/*
		 * The channel went down and came back since DATA went on it:
		 * a connection that keeps its frames sends that DATA again
		 * (nc_rtx_work()) and goes on here; others lost it.
		 */
		ok = nsk->rtx_on;
		if (ok) {
			WRITE_ONCE(nsk->st_gen[i], *gen);
			nc_rtx_kick(nsk, 0);
		}
	}
	spin_unlock(&nsk->lock);
	if (nsk->st.cur != prev)
		NC_INC(stripe_switches);
	return ok ? ch : NULL;
}
