// SPDX-License-Identifier: GPL-2.0
/*
 * nc_mem.c - NetChannel virtual sockets: memory accounting.  Receive
 * memory (the reserve behind every credit grant, the memory cgroup, the
 * module-wide net.netchannel.mem) and send memory (frames queued on the
 * channels, charged to the socket and released when TCP took them).
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
 * ---- Receive memory (issue 13) ----
 *
 * Data waiting for its reader is charged to the socket (sk_rmem_alloc),
 * to the memory cgroup of the process that created it (an accepted child:
 * of the listener's creator, also before accept()) and to the module-wide
 * count behind net.netchannel.mem (min, pressure, max in pages, as
 * tcp_mem), through the socket core's accounting (__sk_mem_schedule()).
 *
 * The lever is the credit, because a peer can never send beyond it: a
 * grant only gives the peer room that memory is reserved for already
 * (nsk->rfwd >= lim - nxt), so arriving data never needs memory that is
 * not there.  A reader that never reads holds at most the first grant
 * (NC_RMEM_INIT); when the limits say no, a window stops growing.  A
 * connection keeps NC_RMEM_FLOOR reserved while it lives, so a reader
 * that drains its queue is always given credit again (no deadlock under
 * pressure); a new connection that cannot get even that is refused
 * (ENOBUFS, or a reset to the connecting peer).
 *
 * The limits are net.netchannel.mem and, on cgroup v2, the memory.max of
 * the socket's cgroup and of its ancestors: the core charges the cgroup
 * with GFP_ATOMIC here (BH off under a spinlock), which would go past
 * memory.max, so nc_memcg_fits() asks first.
 *
 * The reserve is kept in nsk->rfwd, under nsk->lock, and not in
 * sk_forward_alloc: the socket core changes that one under lock_sock()
 * only (SO_RESERVE_MEM, whose release would take back the memory behind
 * credit already granted), so only lock_sock()'s owner (a system call, or
 * the worker making a child nobody else can see yet) touches it, for the
 * moment of a __sk_mem_schedule() or __sk_mem_reclaim() call.  The
 * channel workers grant from rfwd and never grow or trim it.
 *
 * Payload bytes are charged; small frames are packed into shared chunks
 * (nc_rx_data()), so what is allocated stays close to what is charged.
 */
#define NC_RMEM_FLOOR		16384u
#define NC_RMEM_INIT		65536u

atomic_long_t nc_memory_allocated;
DEFINE_PER_CPU(int, nc_memory_fw_alloc);
struct percpu_counter nc_sockets_allocated;
unsigned long nc_memory_pressure;
int nc_rmem_min = NC_RMEM_FLOOR;
long nc_mem[3];

void nc_enter_memory_pressure(struct sock *sk)
{
	if (!READ_ONCE(nc_memory_pressure)) {
		WRITE_ONCE(nc_memory_pressure, 1);
		NC_INC(mem_pressure);
	}
}

void nc_leave_memory_pressure(struct sock *sk)
{
	if (READ_ONCE(nc_memory_pressure))
		WRITE_ONCE(nc_memory_pressure, 0);
}

/* tcp_mem's defaults: from the memory the machine has */
static void nc_mem_defaults(void)
{
	unsigned long limit = max(nr_free_buffer_pages() / 16, 128UL);

	nc_mem[0] = limit / 4 * 3;
	nc_mem[1] = limit;
	nc_mem[2] = nc_mem[0] * 2;
}

/* Would charging bytes more keep the socket's cgroups within memory.max? */
static bool nc_memcg_fits(const struct sock *sk, u32 bytes)
{
#ifdef CONFIG_MEMCG
	unsigned long pages = (unsigned long)sk_mem_pages((int)bytes);
	struct mem_cgroup *m;

	if (!mem_cgroup_sockets_enabled || !sk->sk_memcg ||
	    !cgroup_subsys_on_dfl(memory_cgrp_subsys))
		return true;
	for (m = sk->sk_memcg; m; m = parent_mem_cgroup(m))
		if (page_counter_read(&m->memory) + pages >
		    READ_ONCE(m->memory.max))
			return false;
#endif
	return true;
}

/*
 * Process context, no spinlock: if bytes more would not fit under the
 * cgroup's memory.max, let the cgroup reclaim (its page cache, say) as
 * one of its own allocations would, without the OOM killer: allocate that
 * much (at most NC_ROOM_MAX) plus a charge batch (what is freed goes to
 * this CPU's charge stock first, which nc_memcg_fits() counts as used),
 * charged to it with __GFP_NORETRY, and free it at once.  A cgroup full of
 * page cache, as a busy container is, then still gets socket memory,
 * which nc_memcg_fits() alone would refuse.  After a failure the socket
 * waits a second before it tries again: reclaim that finds nothing is not
 * repeated for every read.
 */
#define NC_ROOM_MAX		(4 * NC_RMEM_INIT)

/* The cgroup reclaims until bytes more fit; false when it could not */
static bool nc_memcg_room(struct sock *sk, u32 bytes)
{
#ifdef CONFIG_MEMCG
	struct mem_cgroup *old;
	void *room;

	if (!bytes || !nc_memcg_kmem_on() || nc_memcg_fits(sk, bytes))
		return true;
	old = set_active_memcg(sk->sk_memcg);
	room = __vmalloc(bytes + MEMCG_CHARGE_BATCH * PAGE_SIZE,
			 GFP_KERNEL_ACCOUNT | __GFP_NORETRY | __GFP_NOWARN);
	set_active_memcg(old);
	if (!room)
		return false;
	vfree(room);
#endif
	return true;
}

static void nc_memcg_make_room(struct nc_sock *nsk, u32 bytes)
{
	if (time_before(jiffies, READ_ONCE(nsk->room_next)))
		return;
	if (!nc_memcg_room(nc_to_sk(nsk), min(bytes, NC_ROOM_MAX)))
		WRITE_ONCE(nsk->room_next, jiffies + HZ);
}

/*
 * A listener's owner, in listen() and after accept(), makes room for the
 * next children, which the channel workers make without reclaiming: a
 * burst of them, and what the CPUs' charge stocks may take meanwhile (a
 * charge on a CPU whose stock is empty moves a whole batch out of the
 * cgroup's room, and nc_memcg_fits() counts stocks as used).  Nothing
 * holds the room for the children: page cache takes it back as any other
 * charge does, so a cgroup that stays at memory.max reclaims here again
 * and again, as much as it consumed meanwhile.  One caller at a time per
 * listener (the others go on), about NC_AHEAD_PER_S times a second (125
 * at HZ=250; ten a second let a burst of children through unprepared:
 * one of 16 was refused in 2 of 30 runs of mem_cgroup_cache), a second's
 * wait after a failure.  At most 4 MiB (and the charge batch that
 * nc_memcg_room() adds): the stocks of up to 14 CPUs with 4 KiB pages.
 */
#define NC_AHEAD_PER_S		100

void nc_listen_room(struct nc_sock *lnsk)
{
#ifdef CONFIG_MEMCG
	unsigned long stocks = num_online_cpus() * MEMCG_CHARGE_BATCH * PAGE_SIZE;
	u32 want = min_t(unsigned long, 2 * NC_ROOM_MAX + stocks, SZ_4M);
	unsigned long next = READ_ONCE(lnsk->ahead_next);
	struct sock *sk = nc_to_sk(lnsk);

	/* the slot is claimed for a second: the reclaim may take longer than a step */
	if (!nc_memcg_kmem_on() || nc_memcg_fits(sk, want) ||
	    time_before(jiffies, next) ||
	    cmpxchg(&lnsk->ahead_next, next, jiffies + HZ) != next)
		return;
	if (nc_memcg_room(sk, want))
		WRITE_ONCE(lnsk->ahead_next,
			   jiffies + max(HZ / NC_AHEAD_PER_S, 1));
#endif
}

/*
 * Charge bytes more to the limits; what was charged goes to nsk->rfwd.
 * A growth the cgroup refuses is noted in nsk->mem_short, for
 * nc_memcg_make_room() once the caller is out of atomic context.
 */
static void nc_mem_schedule(struct nc_sock *nsk, u32 bytes, bool *ok)
{
	struct sock *sk = nc_to_sk(nsk);
	int fa = sk->sk_forward_alloc;

	*ok = nc_memcg_fits(sk, bytes);
	if (!*ok)
		nsk->mem_short = max(nsk->mem_short, bytes);
	else
		*ok = __sk_mem_schedule(sk, (int)bytes, SK_MEM_RECV);
	nsk->rfwd += sk->sk_forward_alloc - fa;
	WRITE_ONCE(sk->sk_forward_alloc, fa);
}

/* After a refused growth: make room in the cgroup (process context). */
void nc_mem_room(struct nc_sock *nsk)
{
	u32 bytes;

	spin_lock(&nsk->lock);
	bytes = nsk->mem_short;
	nsk->mem_short = 0;
	spin_unlock(&nsk->lock);
	nc_memcg_make_room(nsk, bytes);
}

/*
 * A child the listener's cgroup had no room for was refused by the
 * channel worker, which does not reclaim for anybody's cgroup (the
 * channel's other connections would wait): make room for the next ones
 * from the control workqueue, at most ten times a second per listener.
 */
void nc_room_work(struct work_struct *w)
{
	struct nc_sock *lnsk = container_of(w, struct nc_sock, room_work);

	/* nc_room_later() moved room_next to rate-limit itself: not a failure */
	WRITE_ONCE(lnsk->room_next, jiffies);
	nc_memcg_make_room(lnsk, NC_ROOM_MAX);
	sock_put(nc_to_sk(lnsk));
}

void nc_room_later(struct nc_sock *lnsk)
{
	unsigned long next = READ_ONCE(lnsk->room_next);

	if (time_before(jiffies, next))
		return;
	WRITE_ONCE(lnsk->room_next, jiffies + HZ / 10);
	sock_hold(nc_to_sk(lnsk));
	if (!queue_work(nc_ctl_wq, &lnsk->room_work))
		sock_put(nc_to_sk(lnsk));
}

/*
 * Reserve memory so that the peer may send room bytes more; if the
 * limits refuse that, at least the given least.  Only lock_sock()'s owner
 * may grow the reserve (owner false: cover from what is reserved).  Under
 * nsk->lock.  Returns the room covered.
 */
static u32 nc_mem_cover(struct nc_sock *nsk, u32 room, u32 least, bool owner)
{
	int have = max(nsk->rfwd, 0);
	bool ok;

	if (room > (u32)have && owner) {
		nsk->mem_short = 0;
		local_bh_disable();
		nc_mem_schedule(nsk, room - have, &ok);
		if (!ok) {
			NC_INC(mem_capped);
			if (least > (u32)have)
				nc_mem_schedule(nsk, least - have, &ok);
		}
		local_bh_enable();
		have = max(nsk->rfwd, 0);
	}
	return min_t(u32, room, have);
}

/*
 * Give back what the granted window does not need, keeping the floor.
 * lock_sock()'s owner only, under nsk->lock.
 */
static void nc_mem_trim(struct nc_sock *nsk)
{
	struct sock *sk = nc_to_sk(nsk);
	u32 keep = max_t(u32, nsk->rxc.lim - nsk->rxc.consumed, NC_RMEM_FLOOR);
	long excess = (long)nsk->rfwd + atomic_read(&sk->sk_rmem_alloc) - keep;
	int amount;

	excess = min_t(long, excess, nsk->rfwd);
	if (excess < (long)PAGE_SIZE)
		return;
	amount = (int)min_t(long, excess, INT_MAX) & (int)PAGE_MASK;
	nsk->rfwd -= amount;
	WRITE_ONCE(sk->sk_forward_alloc, sk->sk_forward_alloc + amount);
	local_bh_disable();
	__sk_mem_reclaim(sk, amount);	/* takes amount back off */
	local_bh_enable();
}

/* n bytes received and queued, or no longer queued; under nsk->lock */
void nc_mem_charge(struct nc_sock *nsk, u32 n)
{
	atomic_add((int)n, &nc_to_sk(nsk)->sk_rmem_alloc);
	nsk->rfwd -= (int)n;
}

void nc_mem_uncharge(struct nc_sock *nsk, u32 n)
{
	atomic_sub((int)n, &nc_to_sk(nsk)->sk_rmem_alloc);
	nsk->rfwd += (int)n;
}

/*
 * A new connection's first grant: NC_RMEM_INIT (TCP's initial window is
 * about as large), or at least the floor; the rest of the window follows
 * once the application reads.  Not the whole window up front: a
 * connection that carries nothing this way must not hold megabytes.
 * By lock_sock()'s owner (connect()) or for a child not yet visible.
 */
int __nc_rx_reserve(struct nc_sock *nsk, u32 win)
{
	u32 w = nc_win_clamp(win);
	u32 first = min(w, NC_RMEM_INIT);
	u32 least = min(w, NC_RMEM_FLOOR);
	u32 cover = nc_mem_cover(nsk, first, least, true);

	if (cover < least) {
		NC_INC(mem_refused);
		return -ENOBUFS;
	}
	nc_rxc_init_within(&nsk->rxc, 0, w, cover);
	nc_ro_init(&nsk->ro, 0, nsk->rxc.lim);
	nc_mem_trim(nsk);	/* what an earlier connection left reserved */
	return 0;
}

/*
 * The same, taking nsk->lock, in process context: if the cgroup refused,
 * let it reclaim and try once more.
 */
int nc_rx_reserve(struct nc_sock *nsk, u32 win)
{
	int err;

	spin_lock(&nsk->lock);
	err = __nc_rx_reserve(nsk, win);
	spin_unlock(&nsk->lock);
	if (err && READ_ONCE(nsk->mem_short)) {
		nc_mem_room(nsk);
		spin_lock(&nsk->lock);
		err = __nc_rx_reserve(nsk, win);
		spin_unlock(&nsk->lock);
	}
	return err;
}

/*
 * n bytes were taken off the receive queue (read or dropped; uncharge
 * them unless the caller did): count them as consumed and grant the peer
 * what memory covers.  owner: the caller holds lock_sock() (see above).
 * Under nsk->lock.  True when a CREDIT is to be sent for the new limit
 * *credit (the old one in *prev).
 */
bool nc_rx_consumed(struct nc_sock *nsk, u32 n, bool uncharge,
		    bool owner, u32 *credit, u32 *prev)
{
	struct sock *sk = nc_to_sk(nsk);
	bool grant = false;

	if (uncharge)
		nc_mem_uncharge(nsk, n);
	if (nc_rxc_consume(&nsk->rxc, n) == 1 &&
	    sk->sk_state == TCP_ESTABLISHED) {
		u32 want = nc_rxc_want_room(&nsk->rxc);
		u32 cover = nc_mem_cover(nsk, want, 0, owner);

		/* short of memory: a CREDIT per 4 KiB, not per read */
		if (cover == want || !nc_rxc_buffered(&nsk->rxc) ||
		    cover >= nc_rxc_room(&nsk->rxc) + 4096) {
			*prev = nsk->rxc.lim;
			grant = nc_rxc_grant_within(&nsk->rxc, cover) == 1;
			*credit = nsk->rxc.lim;
		}
	}
	if (owner)
		nc_mem_trim(nsk);
	return grant;
}

static void nc_ro_release(struct nc_ro_frag *f, void *arg)
{
	struct nc_chunk *c = container_of(f, struct nc_chunk, ro);

	list_add_tail(&c->list, arg);
}

/*
 * Drop all queued data; returns the number of unread bytes dropped.
 * all: the reorder queue's too (the connection is over; shutdown(SHUT_RD)
 * keeps it, to pass what follows the gap through the discard path).
 */
u32 nc_rxq_purge(struct nc_sock *nsk, bool all)
{
	struct nc_chunk *c, *tmp;
	LIST_HEAD(q);
	u32 bytes;

	spin_lock(&nsk->lock);
	list_splice_init(&nsk->rxq, &q);
	bytes = nsk->rxq_bytes;
	WRITE_ONCE(nsk->rxq_bytes, 0);
	nc_mem_uncharge(nsk, bytes);
	if (all) {
		nc_mem_uncharge(nsk, nsk->ro.bytes);
		nc_ro_purge(&nsk->ro, nc_ro_release, &q);
		nsk->ro_alloc = 0;
	}
	spin_unlock(&nsk->lock);
	list_for_each_entry_safe(c, tmp, &q, list)
		kvfree(c);
	return bytes;
}

/*
 * Receive window of a new connection: SO_RCVBUF if the application set
 * it, otherwise the default_window sysctl (like TCP's autotuned maximum).
 */
u32 nc_sock_window(const struct sock *sk)
{
	if (sk->sk_userlocks & SOCK_RCVBUF_LOCK)
		return nc_win_clamp(READ_ONCE(sk->sk_rcvbuf));
	return nc_win_clamp(READ_ONCE(nc_tun.default_window));
}

/*
 * Send-side queue limit (bytes queued on the channel, not yet handed to
 * its TCP socket): SO_SNDBUF if set, else what the channel's TCP socket
 * buffers, between NC_SNDLIM_FLOOR and default_window.
 */
static u32 nc_sock_sndlim(const struct sock *sk)
{
	struct nc_chan *ch;

	if (sk->sk_userlocks & SOCK_SNDBUF_LOCK)
		return nc_win_clamp(READ_ONCE(sk->sk_sndbuf));
	ch = READ_ONCE(nc_sk(sk)->txch);
	return nc_sndlim_auto(!IS_ERR_OR_NULL(ch) ? READ_ONCE(ch->sndbuf) : 0,
			      READ_ONCE(nc_tun.default_window));
}

/*
 * The connection keeps as much memory for DATA its channels have sent
 * and the peer has not acknowledged as nc_rtx_cap() allows (only with a
 * peer that acknowledges): a writer waits there for an ACK, not for
 * credit.  Frames still queued count against the send limit instead.
 * Counted in allocated bytes, so small writes reach it sooner than their
 * payload would.
 */
u32 nc_rtx_limit(struct nc_sock *nsk)
{
	return nc_rtx_cap(nc_sock_sndlim(nc_to_sk(nsk)));
}

bool nc_rtx_full(struct nc_sock *nsk)
{
	/* only the writer moves nxt; an ACK moving una only makes room */
	u32 kept = READ_ONCE(nsk->rtx.nxt) - READ_ONCE(nsk->rtx.una);

	return READ_ONCE(nsk->rtx_on) &&
	       (READ_ONCE(nsk->rtx_mem) >= nc_rtx_limit(nsk) ||
		/* the list's range (a window): 1 GiB windows both ways */
		kept > NC_WIN_MAX - 2 * NC_MAX_PAYLOAD);
}

bool nc_tx_room(struct nc_sock *nsk)
{
	return (u32)atomic_read(&nsk->tx_queued) <
	       nc_sock_sndlim(nc_to_sk(nsk)) && !nc_rtx_full(nsk);
}

/*
 * Room in the send queue again: wake writers only if one found it full
 * (SOCK_NOSPACE, set by sendmsg and poll), like sk_stream_write_space(),
 * not once per frame sent.  The socket is freed after an RCU grace period.
 */
static void nc_write_space(struct sock *sk)
{
	struct socket *sock;

	rcu_read_lock();
	sock = READ_ONCE(sk->sk_socket);
	if (sock && test_bit(SOCK_NOSPACE, &sock->flags) &&
	    nc_tx_room(nc_sk(sk))) {
		clear_bit(SOCK_NOSPACE, &sock->flags);
		nc_wake(sk, EPOLLOUT | EPOLLWRNORM);
	}
	rcu_read_unlock();
}

/*
 * ---- Send memory (issue 13) ----
 *
 * A DATA frame is charged as TCP charges an skb: its allocation to
 * sk_wmem_queued, to the memory cgroup and to the module-wide count, by
 * sendmsg() (lock_sock()'s owner) through sk_wmem_schedule().  The
 * channel worker that frees it only lowers tx_truesize; the charge is
 * given back by whoever owns the socket's memory fields at that moment:
 * the worker itself when no system call holds the socket (under the
 * socket's spinlock), else that call, at release_sock() (nc_release_cb()).
 */
#define NC_TX_RECLAIM		0	/* a worker found the socket owned */

int nc_wmem_min = 16384;

/* Uncharge what the workers have freed: lock_sock() or the spinlock held */
void nc_tx_uncharge(struct nc_sock *nsk)
{
	struct sock *sk = nc_to_sk(nsk);
	int freed = nsk->tx_charged - atomic_read(&nsk->tx_truesize);

	if (freed <= 0)
		return;
	nsk->tx_charged -= freed;
	sk_wmem_queued_add(sk, -freed);
	sk_mem_uncharge(sk, freed);
}

void nc_release_cb(struct sock *sk)
{
	struct nc_sock *nsk = nc_sk(sk);

	if (test_and_clear_bit(NC_TX_RECLAIM, &nsk->tx_flags))
		nc_tx_uncharge(nsk);
}

/*
 * sk_wmem_schedule() for a frame.  The core forces a send charge that the
 * limits refuse when the socket is at its send buffer (and first shrinks
 * the buffer towards what is queued, unless SO_SNDBUF locked it).  Our
 * send queue is bounded by nc_sock_sndlim(), not by sk_sndbuf, so that
 * rule is set aside: with the buffer locked at INT_MAX for the moment of
 * the call, a refused charge is refused; with it at 1, it is forced.
 * Forcing is what TCP does for a socket with nothing queued
 * (sk_forced_mem_schedule(), which is not exported): without it the
 * memory that receivers hold for credit could leave a sender none, and
 * both would wait for ever.  Under lock_sock(): no other sender looks.
 */
static bool nc_tx_schedule(struct sock *sk, u32 truesize, bool force)
{
	int sndbuf = sk->sk_sndbuf;
	u8 locks = sk->sk_userlocks;
	bool ok;

	sk->sk_userlocks = locks | SOCK_SNDBUF_LOCK;	/* a bit-field on 6.1 */
	WRITE_ONCE(sk->sk_sndbuf, force ? 1 : INT_MAX);
	if (force)	/* BH off: the cgroup is charged as GFP_ATOMIC, no OOM */
		local_bh_disable();
	ok = sk_wmem_schedule(sk, (int)truesize);
	if (force)
		local_bh_enable();
	WRITE_ONCE(sk->sk_sndbuf, sndbuf);
	sk->sk_userlocks = locks;
	return ok;
}

/*
 * Charge a frame of truesize bytes (lock_sock() held).  False when the
 * limits refuse it and frames of ours are queued: the caller waits for
 * them to leave, as TCP's sk_stream_wait_memory() does.  A cgroup at
 * memory.max is asked to make room (without the OOM killer) and else
 * refuses: the core's own GFP_KERNEL charge would OOM-kill in it, as
 * TCP's sendmsg() can.
 */
bool nc_tx_charge(struct nc_sock *nsk, u32 truesize)
{
	struct sock *sk = nc_to_sk(nsk);

	nc_tx_uncharge(nsk);
	if (!nc_memcg_fits(sk, truesize))
		nc_memcg_make_room(nsk, truesize);
	if (!(nc_memcg_fits(sk, truesize) &&
	      nc_tx_schedule(sk, truesize, false)) &&
	    (nsk->tx_charged || !nc_tx_schedule(sk, truesize, true)))
		return false;
	sk_wmem_queued_add(sk, (int)truesize);
	sk_mem_charge(sk, (int)truesize);
	nsk->tx_charged += (int)truesize;
	atomic_add((int)truesize, &nsk->tx_truesize);
	return true;
}

/*
 * Drop a reference to f; the last one returns its memory to the owner's
 * charge and frees it.  True if that happened.
 */
static bool __nc_txframe_put(struct nc_txframe *f)
{
	struct sock *sk = f->owner;

	if (!refcount_dec_and_test(&f->ref))
		return false;
	if (sk && f->charged) {	/* a copy sent again never was */
		struct nc_sock *nsk = nc_sk(sk);

		atomic_sub((int)f->truesize, &nsk->tx_truesize);
		local_bh_disable();
		bh_lock_sock(sk);
		if (!sock_owned_by_user(sk))
			nc_tx_uncharge(nsk);
		else
			set_bit(NC_TX_RECLAIM, &nsk->tx_flags);
		bh_unlock_sock(sk);
		local_bh_enable();
	}
	kfree(f);
	return true;
}

/*
 * The channel is done with f (sent, or dropped): its bytes leave the send
 * queue, and the channel's reference goes.  Writers waiting for room are
 * woken after both, so one waiting for memory sees it back.
 */
void nc_txframe_done(struct nc_txframe *f)
{
	struct sock *sk = f->owner;

	if (!sk) {
		kfree(f);	/* a control frame: the channel's alone */
		return;
	}
	if (READ_ONCE(f->kept)) {
		struct nc_sock *nsk = nc_sk(sk);

		/* from now on only the peer's ACK frees it (nc_rtx_full()) */
		spin_lock(&nsk->lock);
		if (f->kept) {
			f->in_mem = true;
			WRITE_ONCE(nsk->rtx_mem, nsk->rtx_mem + f->truesize);
		}
		spin_unlock(&nsk->lock);
	}
	atomic_sub((int)(f->len - nc_hdr_len(f->buf[2], f->buf[3])),
		   &nc_sk(sk)->tx_payload);
	atomic_sub((int)f->len, &nc_sk(sk)->tx_queued);
	nc_txframe_put(f);
}

/*
 * A DATA frame's reference (the channel's, or the retransmit list's after
 * an ACK or a purge) and the socket it holds; writers waiting for room or
 * memory are woken after it.
 */
void nc_txframe_put(struct nc_txframe *f)
{
	struct sock *sk = f->owner;

	__nc_txframe_put(f);
	smp_mb__after_atomic();	/* pairs with sendmsg's and poll's */
	nc_write_space(sk);
	sock_put(sk);
}

/*
 * ---- The retransmit list (with a peer that acknowledges) ----
 *
 * sendmsg() records each DATA frame on nsk->rtx with a second reference
 * (nc_sock.c's lock rules: under nsk->lock); an ACK releases the frames
 * it covers, an end of the connection all of them.  The references are
 * put after nsk->lock is dropped (nc_rtx_put_list()): the last one takes
 * the socket's spinlock and may free the frame.
 */
struct nc_rtx_rel {
	struct list_head *frames;
	u32 mem;
};

static void nc_rtx_collect(struct nc_rtx_frame *rf, void *arg)
{
	struct nc_txframe *f = container_of(rf, struct nc_txframe, rtx);
	struct nc_rtx_rel *rel = arg;

	if (f->in_mem)
		rel->mem += f->truesize;
	f->kept = false;
	f->in_mem = false;
	list_add_tail(&rf->node, rel->frames);
}

/*
 * Start a connection's retransmit state: on if its peer acknowledges.
 * lock_sock() or a socket nobody else sees yet; nothing may be kept.
 */
void nc_rtx_reset(struct nc_sock *nsk, bool on)
{
	WARN_ON_ONCE(nsk->rtx.count);
	nc_rtx_init(&nsk->rtx, 0);
	WRITE_ONCE(nsk->rtx_mem, 0);
	WRITE_ONCE(nsk->rtx_on, on);
	nsk->ack_asked = false;
	nsk->ack_want_on = false;
	nsk->ack_sent = 0;
	nsk->ack_frames = 0;
	nsk->ack_rep_at = jiffies;
	nsk->rtx_probe = false;
	nsk->rtx_resync = false;
	nsk->rtx_waiting = false;
}

/*
 * A kept frame did not reach its channel (it went down, or no copy could
 * be made): an orphan again, for nc_rtx_work() to send, unless an ACK or
 * the connection's end took it off the list meanwhile.
 */
void nc_rtx_orphan(struct nc_sock *nsk, struct nc_txframe *f)
{
	spin_lock(&nsk->lock);
	if (f->kept && f->rtx.chan != NC_CHAN_NONE) {
		f->rtx.chan = NC_CHAN_NONE;
		nsk->rtx.orphans++;
	}
	spin_unlock(&nsk->lock);
}

/* Under nsk->lock: every kept frame onto frames (the connection ends). */
void nc_rtx_drop_locked(struct nc_sock *nsk, struct list_head *frames)
{
	struct nc_rtx_rel rel = { .frames = frames };

	nc_rtx_purge(&nsk->rtx, nc_rtx_collect, &rel);
	WRITE_ONCE(nsk->rtx_mem, 0);
	nsk->ack_asked = false;
}

/*
 * Under nsk->lock: the peer has every byte before ack; the frames that
 * covers onto frames.  nc_rtx_ack()'s answer: the frames released, or
 * < 0 for an ACK no honest peer sends.
 */
int nc_rtx_acked_locked(struct nc_sock *nsk, u32 ack, struct list_head *frames)
{
	struct nc_rtx_rel rel = { .frames = frames };
	int r = nc_rtx_ack(&nsk->rtx, ack, nc_rtx_collect, &rel);

	WRITE_ONCE(nsk->rtx_mem, nsk->rtx_mem - rel.mem);
	if (nsk->ack_asked && !nc_seq_lt(ack, nsk->ack_asked_seq))
		nsk->ack_asked = false;
	return r;
}

/* After nsk->lock: drop the references nc_rtx_*_locked() collected. */
void nc_rtx_put_list(struct list_head *frames)
{
	struct nc_rtx_frame *rf, *tmp;

	list_for_each_entry_safe(rf, tmp, frames, node) {
		list_del(&rf->node);
		nc_txframe_put(container_of(rf, struct nc_txframe, rtx));
	}
}

int nc_mem_init(void)
{
	nc_mem_defaults();
	return percpu_counter_init(&nc_sockets_allocated, 0, GFP_KERNEL);
}

void nc_mem_exit(void)
{
	percpu_counter_destroy(&nc_sockets_allocated);
}

void nc_mem_seq_show(struct seq_file *m)
{
	long pages;
	int cpu;

	/* exact: with what each CPU holds back from the total (up to 1 MiB) */
	pages = atomic_long_read(&nc_memory_allocated);
	for_each_possible_cpu(cpu)
		pages += *per_cpu_ptr(&nc_memory_fw_alloc, cpu);
	seq_printf(m, "mem pages %ld pressure %lu limits %ld %ld %ld\n",
		   max(0L, pages),
		   READ_ONCE(nc_memory_pressure), READ_ONCE(nc_mem[0]),
		   READ_ONCE(nc_mem[1]), READ_ONCE(nc_mem[2]));
}
