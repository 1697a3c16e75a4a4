// SPDX-License-Identifier: GPL-2.0
/*
 * nc_sock.c - NetChannel virtual sockets: socket(AF_INET, SOCK_STREAM, 19).
 *
 * A virtual connection is identified by (peer, local port, remote port)
 * plus a connection id chosen by the connecting side.  Its control frames
 * travel on one outbound channel of its class, chosen from the ports; its
 * DATA frames may be spread over every channel of the class its socket
 * priority names now (striping, nc_tx_chan()), and the receiver's reorder
 * queue puts them back in order.
 *
 * Locking: lock_sock() serialises system calls on a socket; nsk->lock (a
 * spinlock, never held while copying to or from user space) protects the
 * state shared with the channel receive workers; nc_tbl_lock protects the
 * demux table and the port map and nests outside nsk->lock.
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

#define NC_TBL_BUCKETS		4096

struct nc_sock {
	struct inet_sock inet;		/* must be first */
	spinlock_t lock;		/* see the comment at the top */
	struct nc_dnode node;		/* demux table entry */
	struct nc_peer *peer;
	struct nc_chan *txch;		/* control frames, DATA when not striping */
	u32 txgen;
	struct nc_stripe st;		/* DATA's channel, index in tx_latency's class */
	u32 st_used;			/* peer->chans[i] DATA went on: bit i */
	u32 st_gen[2 * NC_MAX_CLASS_CHANNELS];	/* their generation then */
	/* DATA waiting on peer->chans[i] for its turn (struct nc_drr) */
	struct nc_drr_flow txfl[2 * NC_MAX_CLASS_CHANNELS];
	u64 rxchan_id;
	struct nc_reorder ro;		/* DATA ahead of a gap (striping) */
	u32 ro_alloc;			/* allocated for the chunks in ro */
	u32 conn_id;
	u16 lport;
	u16 rport;
	bool port_reserved;
	struct nc_rgroup *rg;		/* SO_REUSEPORT group of lport */
	struct list_head rg_node;	/* on rg->listeners (not in nc_tbl) */
	bool latency;			/* class of the connection's control frames */
	bool tx_latency;		/* class DATA goes on now (SO_PRIORITY) */
	u32 tx_prio;			/* sk_priority that tx_latency follows */
	bool peer_fin;
	bool fin_sent;
	struct nc_tx_credit txc;
	struct nc_rx_credit rxc;
	struct list_head rxq;		/* struct nc_chunk */
	u32 rxq_bytes;
	atomic_t tx_queued;		/* bytes in channel queues, unsent */
	atomic_t tx_payload;		/* of them, payload (SIOCOUTQ) */
	atomic_t tx_truesize;		/* allocated for our frames queued */
	int tx_charged;			/* of it in sk_wmem_queued (owner) */
	unsigned long tx_flags;		/* NC_TX_RECLAIM */
	int rfwd;			/* receive memory reserved, unused */
	u32 mem_short;			/* growth the cgroup refused */
	unsigned long room_next;	/* no make-room before (jiffies) */
	unsigned long ahead_next;	/* a listener's: nc_listen_room() */
	struct work_struct room_work;	/* a listener's, for its children */
	/* listeners */
	struct list_head acceptq;
	u32 acceptq_len;
	struct list_head accept_node;
};

/*
 * SO_REUSEPORT, as TCP has it: sockets that set it before bind() and
 * belong to the same user share the port; new connections are spread
 * over the group's listeners by nc_reuse_pick().  The port's bit in
 * nc_ports stays set while the group has members.  Groups are few (one
 * per shared port), so a list will do.  All under nc_tbl_lock.
 */
struct nc_rgroup {
	struct list_head node;		/* on nc_rgroups */
	struct list_head listeners;	/* nc_sock.rg_node, TCP_LISTEN */
	kuid_t uid;
	u32 members;			/* sockets bound to the port */
	u32 nlisten;
	u16 port;
};

static DEFINE_SPINLOCK(nc_tbl_lock);
static LIST_HEAD(nc_rgroups);
static struct nc_demux nc_tbl;
static struct nc_dnode __rcu *nc_tbl_buckets[NC_TBL_BUCKETS];
static struct nc_portmap nc_ports;

static inline struct nc_sock *nc_sk(const struct sock *sk)
{
	return (struct nc_sock *)sk;
}

static inline struct sock *nc_to_sk(struct nc_sock *nsk)
{
	return &nsk->inet.sk;
}

static void nc_wake(struct sock *sk, __poll_t mask)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, mask);
	rcu_read_unlock();
	/* O_ASYNC owners get SIGIO, with the band TCP would give */
	if (!sock_flag(sk, SOCK_FASYNC))
		return;
	if ((mask & EPOLLERR) && READ_ONCE(sk->sk_err))
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_ERR);
	else if (mask & EPOLLIN)
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_IN);
	if (mask & EPOLLOUT)
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_OUT);
}

#define NC_WAKE_ALL	(EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM | \
			 EPOLLERR | EPOLLHUP | EPOLLRDHUP)

/* Wait on the socket with lock_sock() dropped; returns the condition. */
#define nc_wait(sk, timeo, cond)					\
	({								\
		DEFINE_WAIT_FUNC(__wait, woken_wake_function);		\
		struct sock *__nc_sk = (sk);				\
		int __ret;						\
		add_wait_queue(sk_sleep(__nc_sk), &__wait);		\
		__ret = sk_wait_event(__nc_sk, timeo, cond, &__wait);	\
		remove_wait_queue(sk_sleep(__nc_sk), &__wait);		\
		__ret;							\
	})

/* ---- table helpers ---- */

static struct nc_rgroup *nc_rgroup_find(u16 port)
{
	struct nc_rgroup *rg;

	lockdep_assert_held(&nc_tbl_lock);
	list_for_each_entry(rg, &nc_rgroups, node)
		if (rg->port == port)
			return rg;
	return NULL;
}

static int nc_hash(struct nc_sock *nsk)
{
	int err;

	spin_lock(&nc_tbl_lock);
	err = nc_demux_insert(&nc_tbl, &nsk->node);
	if (!err)
		sock_hold(nc_to_sk(nsk));
	spin_unlock(&nc_tbl_lock);
	return err == -EEXIST ? -EADDRINUSE : err;
}

/* A listener: into the demux table, or onto its SO_REUSEPORT group. */
static int nc_listener_hash(struct nc_sock *nsk)
{
	if (!nsk->rg)
		return nc_hash(nsk);
	spin_lock(&nc_tbl_lock);
	list_add_tail(&nsk->rg_node, &nsk->rg->listeners);
	nsk->rg->nlisten++;
	sock_hold(nc_to_sk(nsk));
	spin_unlock(&nc_tbl_lock);
	return 0;
}

/*
 * The socket's key in the table, written only while it is out of it;
 * lock-free lookups may still read the old one (nc_demux_confirm()).
 */
static void nc_set_key(struct nc_sock *nsk, u32 peer, u16 rport)
{
	WARN_ON_ONCE(nc_dnode_hashed(&nsk->node));
	WRITE_ONCE(nsk->node.key.peer, peer);
	WRITE_ONCE(nsk->node.key.lport, nsk->lport);
	WRITE_ONCE(nsk->node.key.rport, rport);
}

static void nc_unhash(struct nc_sock *nsk)
{
	int err = 0;

	spin_lock(&nc_tbl_lock);
	if (!list_empty(&nsk->rg_node)) {
		list_del_init(&nsk->rg_node);
		nsk->rg->nlisten--;
	} else {
		err = nc_demux_remove(&nc_tbl, &nsk->node);
	}
	spin_unlock(&nc_tbl_lock);
	if (!err)
		sock_put(nc_to_sk(nsk));
}

/*
 * nc_unhash() for the incarnation conn_id only.  __nc_conn_fail()
 * publishes TCP_CLOSE before it leaves the table, so the socket may have
 * connect()ed again or become a listener meanwhile (both take the old
 * incarnation out themselves and draw a new conn_id): the new one stays.
 */
static void nc_unhash_conn(struct nc_sock *nsk, u32 conn_id)
{
	int err = -ENOENT;

	spin_lock(&nc_tbl_lock);
	if (READ_ONCE(nsk->conn_id) == conn_id)
		err = nc_demux_remove(&nc_tbl, &nsk->node);
	spin_unlock(&nc_tbl_lock);
	if (!err)
		sock_put(nc_to_sk(nsk));
}

/*
 * The connection or listener with this key, with a reference, or NULL.
 * Every received frame asks, so first without the table lock: under RCU
 * (the socket slab is SLAB_TYPESAFE_BY_RCU, see nc_prot: what the walk
 * finds may be freed, even reused for another socket, but stays a
 * struct nc_sock), a reference only if the socket's count is not zero,
 * and then, with the socket pinned, nc_demux_confirm() that it is in the
 * table with this key.  A miss there is not final (a node moved to
 * another chain, or reused, while the walk stood on it hides the rest of
 * its chain): the lookup is made again under the lock, and lookup_locked
 * counts those.
 */
static struct nc_sock *nc_lookup(u32 peer, u16 lport, u16 rport)
{
	struct nc_dkey k = { .peer = peer, .lport = lport, .rport = rport };
	struct nc_sock *nsk = NULL;
	struct sock *stale = NULL;
	struct nc_dnode *n;

	rcu_read_lock();
	n = nc_demux_lookup_rcu(&nc_tbl, &k);
	if (n) {
		nsk = container_of(n, struct nc_sock, node);
		if (!refcount_inc_not_zero(&nc_to_sk(nsk)->sk_refcnt)) {
			nsk = NULL;
			goto miss;
		}
		/* the reference before confirm's reads (no order of its own) */
		smp_acquire__after_ctrl_dep();
		if (!nc_demux_confirm(n, &k)) {
			stale = nc_to_sk(nsk);
			nsk = NULL;
		}
	}
miss:
	rcu_read_unlock();
	if (nsk)
		return nsk;
	if (stale)
		sock_put(stale);

	NC_INC(lookup_locked);
	spin_lock(&nc_tbl_lock);
	n = nc_demux_lookup(&nc_tbl, &k);
	if (n) {
		nsk = container_of(n, struct nc_sock, node);
		sock_hold(nc_to_sk(nsk));
	}
	spin_unlock(&nc_tbl_lock);
	return nsk;
}

static u32 nc_bound_addr(const struct nc_sock *nsk)
{
	return ntohl(READ_ONCE(nsk->inet.inet_rcv_saddr));
}

/*
 * A listener for a CONNECT to daddr:port: the one in the demux table,
 * else one of the port's SO_REUSEPORT group; either only if bound to
 * INADDR_ANY or to daddr, as TCP's.  With a reference, or NULL.
 */
static struct nc_sock *nc_lookup_listener(u32 peer, u32 daddr, u16 port,
					  u16 rport)
{
	struct nc_sock *nsk = nc_lookup(0, port, 0), *l;
	struct nc_rgroup *rg;
	u32 k, n = 0;

	if (nsk) {
		if (nc_listen_match(nc_bound_addr(nsk), daddr))
			return nsk;
		sock_put(nc_to_sk(nsk));
		return NULL;
	}
	spin_lock(&nc_tbl_lock);
	rg = nc_rgroup_find(port);
	if (rg) {
		list_for_each_entry(l, &rg->listeners, rg_node)
			n += nc_listen_match(nc_bound_addr(l), daddr);
	}
	if (n) {
		k = nc_reuse_pick(peer, rport, nc_tbl.seed, n);
		list_for_each_entry(l, &rg->listeners, rg_node) {
			if (!nc_listen_match(nc_bound_addr(l), daddr) || k--)
				continue;
			nsk = l;
			sock_hold(nc_to_sk(nsk));
			break;
		}
	}
	spin_unlock(&nc_tbl_lock);
	return nsk;
}

static int nc_port_get(struct nc_sock *nsk, u16 port)
{
	struct sock *sk = nc_to_sk(nsk);
	bool reuse = port && sk->sk_reuseport;
	kuid_t uid = GLOBAL_ROOT_UID;	/* only compared when reuse */
	struct nc_rgroup *rg, *fresh = NULL;
	int ret;

	if (reuse) {
		uid = sock_i_uid(sk);
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
		if (!fresh)
			return -ENOMEM;
	}
	spin_lock(&nc_tbl_lock);
	if (port) {
		rg = nc_rgroup_find(port);
		if (rg) {
			/* TCP's rule: every socket on it set SO_REUSEPORT, same user */
			ret = reuse && uid_eq(rg->uid, uid) ? 0 : -EADDRINUSE;
			if (!ret) {
				rg->members++;
				nsk->rg = rg;
			}
		} else {
			ret = nc_ports_reserve(&nc_ports, port);
			if (!ret && reuse) {
				INIT_LIST_HEAD(&fresh->listeners);
				fresh->uid = uid;
				fresh->port = port;
				fresh->members = 1;
				list_add(&fresh->node, &nc_rgroups);
				nsk->rg = fresh;
				fresh = NULL;
			}
		}
	} else {
		ret = nc_ports_alloc(&nc_ports, NC_PORT_EPH_LO, NC_PORT_EPH_HI,
				     get_random_u32());
	}
	spin_unlock(&nc_tbl_lock);
	kfree(fresh);
	if (ret < 0)
		return ret == -EADDRNOTAVAIL ? -EADDRNOTAVAIL : -EADDRINUSE;
	if (!port)
		port = (u16)ret;
	nsk->lport = port;
	nsk->port_reserved = true;
	nsk->inet.inet_num = port;
	nsk->inet.inet_sport = htons(port);
	return 0;
}

static void nc_port_put(struct nc_sock *nsk)
{
	struct nc_rgroup *rg = nsk->rg, *gone = NULL;

	if (!nsk->port_reserved)
		return;
	spin_lock(&nc_tbl_lock);
	if (!rg || !--rg->members) {
		nc_ports_release(&nc_ports, nsk->lport);
		if (rg) {
			list_del(&rg->node);
			gone = rg;
		}
	}
	nsk->rg = NULL;
	spin_unlock(&nc_tbl_lock);
	kfree(gone);
	nsk->port_reserved = false;
}

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

static atomic_long_t nc_memory_allocated;
static DEFINE_PER_CPU(int, nc_memory_fw_alloc);
static struct percpu_counter nc_sockets_allocated;
static unsigned long nc_memory_pressure;
static int nc_rmem_min = NC_RMEM_FLOOR;
long nc_mem[3];

static void nc_enter_memory_pressure(struct sock *sk)
{
	if (!READ_ONCE(nc_memory_pressure)) {
		WRITE_ONCE(nc_memory_pressure, 1);
		NC_INC(mem_pressure);
	}
}

static void nc_leave_memory_pressure(struct sock *sk)
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

static void nc_listen_room(struct nc_sock *lnsk)
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
static void nc_mem_room(struct nc_sock *nsk)
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
static void nc_room_work(struct work_struct *w)
{
	struct nc_sock *lnsk = container_of(w, struct nc_sock, room_work);

	/* nc_room_later() moved room_next to rate-limit itself: not a failure */
	WRITE_ONCE(lnsk->room_next, jiffies);
	nc_memcg_make_room(lnsk, NC_ROOM_MAX);
	sock_put(nc_to_sk(lnsk));
}

static void nc_room_later(struct nc_sock *lnsk)
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
static void nc_mem_charge(struct nc_sock *nsk, u32 n)
{
	atomic_add((int)n, &nc_to_sk(nsk)->sk_rmem_alloc);
	nsk->rfwd -= (int)n;
}

static void nc_mem_uncharge(struct nc_sock *nsk, u32 n)
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
static int __nc_rx_reserve(struct nc_sock *nsk, u32 win)
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
static int nc_rx_reserve(struct nc_sock *nsk, u32 win)
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
static bool nc_rx_consumed(struct nc_sock *nsk, u32 n, bool uncharge,
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

static void nc_tx_uncharge(struct nc_sock *nsk);

static void nc_sock_destruct(struct sock *sk)
{
	struct nc_sock *nsk = nc_sk(sk);
	u32 i;

	nc_tx_uncharge(nsk);	/* every frame is gone: they held the socket */
	/* so no channel's turns still name this memory */
	for (i = 0; i < ARRAY_SIZE(nsk->txfl); i++)
		WARN_ON_ONCE(READ_ONCE(nsk->txfl[i].on));

	/* the reserve goes back with the core's (sk_mem_reclaim_final()) */
	sk->sk_forward_alloc += nsk->rfwd;
	nsk->rfwd = 0;
	percpu_counter_dec(&nc_sockets_allocated);
	inet_sock_destruct(sk);
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
static u32 nc_rxq_purge(struct nc_sock *nsk, bool all)
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

/* Where a connection's control frames go, read at one moment. */
struct nc_ctl {
	struct nc_chan *ch;
	u32 gen;
	u32 conn_id;
	u16 flags;
	u16 lport;
	u16 rport;
};

/*
 * The connection's control address.  connect() rewrites it, under
 * lock_sock() only, once the socket is in TCP_CLOSE: read it under
 * lock_sock(), or under nsk->lock while the incarnation is the one that
 * matters (ESTABLISHED or SYN_SENT with its conn_id).  A worker that
 * sends after it dropped nsk->lock sends from this copy: read again,
 * the fields could name a new connection, and a RESET or CREDIT meant
 * for the old one would reach the new one at the peer.
 */
static void nc_ctl_snap(const struct nc_sock *nsk, struct nc_ctl *d)
{
	d->ch = nsk->txch;
	d->gen = nsk->txgen;
	d->conn_id = nsk->conn_id;
	d->flags = nsk->latency ? NC_F_LATENCY : 0;
	d->lport = nsk->lport;
	d->rport = nsk->rport;
}

static int nc_ctl_send(const struct nc_ctl *d, u8 type, u32 credit, u32 ext)
{
	return nc_send_ctrl(d->ch, &d->gen, type, d->flags, d->lport,
			    d->rport, d->conn_id, credit, ext);
}

/*
 * A control frame of this connection, by lock_sock()'s owner.  CONNECT
 * carries the destination address asked for (the listener is matched on
 * it), CLOSE the final offset (one past the last byte sent: the peer
 * checks it got them all).
 */
static int nc_send(struct nc_sock *nsk, u8 type, u32 credit)
{
	struct nc_ctl d;
	u32 ext = 0;

	if (type == NC_T_CONNECT)
		ext = ntohl(nsk->inet.inet_daddr);
	else if (type == NC_T_CLOSE)
		ext = READ_ONCE(nsk->txc.nxt);
	nc_ctl_snap(nsk, &d);
	return nc_ctl_send(&d, type, credit, ext);
}

/*
 * Send the CREDIT for a grant nc_rx_consumed() has counted (the limit was
 * prev before it) to d, the connection as it was then.  If it cannot be
 * queued, give the grant back so the next read offers it again: the peer
 * would otherwise wait for a limit it never gets (see nc_rxc_ungrant());
 * not to a new connection the socket has made since.
 */
static void nc_send_credit(struct nc_sock *nsk, const struct nc_ctl *d,
			   u32 credit, u32 prev)
{
	int err = nc_ctl_send(d, NC_T_CREDIT, credit, 0);

	if (!err) {
		NC_INC(credit_sent);
		return;
	}
	spin_lock(&nsk->lock);
	if (READ_ONCE(nsk->conn_id) == d->conn_id)
		nc_rxc_ungrant(&nsk->rxc, credit, prev);
	spin_unlock(&nsk->lock);
	nc_dbg("CREDIT %u on port %u not sent (%d), offered again\n", credit,
	       d->lport, err);
}

/* nc_send_credit() by lock_sock()'s owner: the connection as it is. */
static void nc_send_credit_owner(struct nc_sock *nsk, u32 credit, u32 prev)
{
	struct nc_ctl d;

	nc_ctl_snap(nsk, &d);
	nc_send_credit(nsk, &d, credit, prev);
}

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
	/* d read before a connect() that sees CLOSE rewrites it */
	smp_store_release(&sk->sk_state, TCP_CLOSE);
	spin_unlock(&nsk->lock);
	if (send_reset)
		nc_ctl_send(&d, NC_T_RESET, 0, 0);
	nc_unhash_conn(nsk, d.conn_id);
	NC_INC(conn_reset);
	nc_wake(sk, NC_WAKE_ALL);
}

static void nc_conn_fail(struct nc_sock *nsk, int err, bool send_reset)
{
	__nc_conn_fail(nsk, err, send_reset, NULL);
}

/* Repeatedly find and fail the first hashed connection matching pred. */
static void nc_conns_fail_matching(bool (*pred)(struct nc_sock *, const void *),
				   const void *arg, int err)
{
	for (;;) {
		struct nc_sock *victim = NULL;
		struct nc_dnode *n;
		u32 b = 0, id = 0;

		spin_lock(&nc_tbl_lock);
		for (n = nc_demux_next(&nc_tbl, &b, NULL); n;
		     n = nc_demux_next(&nc_tbl, &b, n)) {
			struct nc_sock *nsk = container_of(n, struct nc_sock,
							   node);

			if (n->key.peer && pred(nsk, arg)) {
				victim = nsk;
				/* stable while hashed: the incarnation found */
				id = READ_ONCE(nsk->conn_id);
				sock_hold(nc_to_sk(victim));
				break;
			}
		}
		spin_unlock(&nc_tbl_lock);
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

void nc_conns_chan_down(struct nc_chan *ch, u32 gen)
{
	struct nc_chan_match m = { .ch = ch, .gen = gen };

	nc_conns_fail_matching(nc_match_chan, &m, ECONNRESET);
}

void nc_conns_rxchan_down(const struct nc_rxchan *rc)
{
	nc_conns_fail_matching(nc_match_rxchan, rc, ECONNRESET);
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

/*
 * Receive window of a new connection: SO_RCVBUF if the application set
 * it, otherwise the default_window sysctl (like TCP's autotuned maximum).
 */
static u32 nc_sock_window(const struct sock *sk)
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

static bool nc_tx_room(struct nc_sock *nsk)
{
	return (u32)atomic_read(&nsk->tx_queued) <
	       nc_sock_sndlim(nc_to_sk(nsk));
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

static int nc_wmem_min = 16384;

/* Uncharge what the workers have freed: lock_sock() or the spinlock held */
static void nc_tx_uncharge(struct nc_sock *nsk)
{
	struct sock *sk = nc_to_sk(nsk);
	int freed = nsk->tx_charged - atomic_read(&nsk->tx_truesize);

	if (freed <= 0)
		return;
	nsk->tx_charged -= freed;
	sk_wmem_queued_add(sk, -freed);
	sk_mem_uncharge(sk, freed);
}

static void nc_release_cb(struct sock *sk)
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
static bool nc_tx_charge(struct nc_sock *nsk, u32 truesize)
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

/* A frame left the channel queue (sent or dropped): release it. */
void nc_txframe_done(struct nc_txframe *f)
{
	struct sock *sk = f->owner;

	if (sk) {
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
		atomic_sub((int)(f->len - nc_hdr_len(f->buf[2], f->buf[3])),
			   &nsk->tx_payload);
		atomic_sub((int)f->len, &nsk->tx_queued);
		smp_mb__after_atomic();	/* pairs with sendmsg's and poll's */
		nc_write_space(sk);
		sock_put(sk);
	}
	kfree(f);
}

static void nc_sock_setup(struct nc_sock *nsk)
{
	u32 i;

	for (i = 0; i < ARRAY_SIZE(nsk->txfl); i++)
		nc_drr_flow_init(&nsk->txfl[i]);
	spin_lock_init(&nsk->lock);
	INIT_LIST_HEAD(&nsk->rxq);
	INIT_LIST_HEAD(&nsk->acceptq);
	INIT_LIST_HEAD(&nsk->accept_node);
	INIT_LIST_HEAD(&nsk->rg_node);
	INIT_WORK(&nsk->room_work, nc_room_work);
	nsk->room_next = jiffies;
	nsk->ahead_next = jiffies;
	nc_ro_init(&nsk->ro, 0, 0);
}

/*
 * DATA starts on the connection's first channel, ch of generation gen;
 * prio is the socket priority its class was chosen from.
 */
static void nc_stripe_start(struct nc_sock *nsk, struct nc_chan *ch, u32 gen,
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
static void nc_tx_class(struct nc_sock *nsk)
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
static void nc_destroy_children(struct list_head *children)
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
	nsk = nc_sk(sk);
	nc_sock_setup(nsk);
	nsk->inet.uc_ttl = -1;
	nsk->inet.inet_daddr = htonl(rc->peer_ip);
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
	u32 credit;
	u32 prev;
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
	return NULL;
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
	bool queued = false, fin = false;
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
	/* a small frame that continues a waiting one goes into its buffer */
	prev = c->len <= NC_RX_SMALL ? nc_ro_before(&nsk->ro, h->seq) : NULL;
	t = prev ? container_of(prev, struct nc_chunk, ro) : NULL;
	if (t && t->cap - t->len >= c->len) {
		r = nc_ro_extend(&nsk->ro, prev, c->len);
		if (!r) {
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
	if (r == -ENOBUFS)
		violation = "overran its credit";
	else if (r == -E2BIG)
		violation = "sent too many small frames ahead of a gap";
	else if (r < 0)
		violation = "sent data at a wrong offset";
	if (g.grant)
		nc_ctl_snap(nsk, &d);
	spin_unlock(&nsk->lock);

	kvfree(c);
	if (nc_rx_done(nsk, &drop, violation, h->conn_id))
		return;
	if (queued || fin)
		nc_wake(sk, EPOLLIN | EPOLLRDNORM | (fin ? EPOLLRDHUP : 0));
	if (g.grant)
		nc_send_credit(nsk, &d, g.credit, g.prev);
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
	if (g.grant)
		nc_send_credit(nsk, &d, g.credit, g.prev);
}

void nc_rx_frame(struct nc_rxchan *rc, const struct nc_hdr *h,
		 struct nc_chunk *chunk)
{
	struct nc_sock *nsk;
	struct sock *sk;
	bool fin;
	int r;

	if (h->type == NC_T_CONNECT) {
		nc_rx_connect(rc, h);
		return;
	}
	nsk = nc_lookup(rc->peer_ip, h->dport, h->sport);
	if (!nsk || nsk->conn_id != h->conn_id) {
		NC_INC(unknown_conn);
		if (h->type == NC_T_DATA)
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
		__nc_conn_fail(nsk, sk->sk_state == TCP_SYN_SENT ?
			       ECONNREFUSED : ECONNRESET, false, &h->conn_id);
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
		spin_unlock(&nsk->lock);
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
	default:
		break;
	}
	kvfree(chunk);
	sock_put(sk);
}

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
	nc_set_key(nsk, peer->ip, rport);
	nsk->inet.inet_daddr = sin->sin_addr.s_addr;
	nsk->inet.inet_dport = sin->sin_port;
	if (!nsk->inet.inet_rcv_saddr) {
		nsk->inet.inet_saddr = htonl(nc_cfg.local_ip);
		nsk->inet.inet_rcv_saddr = htonl(nc_cfg.local_ip);
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

/*
 * The channel for the connection's next DATA frame, and its generation
 * in *gen.  Striping (net.netchannel.stripe): while frames of the
 * connection wait to be sent, each new one joins the least-loaded channel
 * of the class.  A channel that went down after DATA went on it lost that
 * DATA: NULL, the connection fails (nc_match_chan() does the same from
 * the other side).  Under lock_sock().
 */
static struct nc_chan *nc_tx_chan(struct nc_sock *nsk, u32 *gen, u32 len)
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
		*gen = nsk->txgen;
		return nsk->txch;
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
		ok = false;
	}
	spin_unlock(&nsk->lock);
	if (nsk->st.cur != prev)
		NC_INC(stripe_switches);
	return ok ? ch : NULL;
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
		u32 avail, n, seq, gen;
		struct nc_chan *ch;
		int state;
		bool shut;

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
			err = nc_tx_full(sock, timeo);
			if (err)
				break;
			nc_wait(sk, &timeo,
				(nc_txc_avail(&nsk->txc) && nc_tx_room(nsk)) ||
				READ_ONCE(sk->sk_err) ||
				READ_ONCE(sk->sk_state) != TCP_ESTABLISHED ||
				(READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN));
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
		atomic_add((int)n, &nsk->tx_payload);
		atomic_add((int)f->len, &nsk->tx_queued);
		err = ch ? nc_chan_xmit(ch, &gen, f) : -ECONNRESET;
		if (err) {
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
		if (READ_ONCE(sk->sk_err)) {
			err = sock_error(sk);
			break;
		}
		if (fin || (sk->sk_shutdown & RCV_SHUTDOWN))
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
	int state;

	lock_sock(sk);
	spin_lock(&nsk->lock);
	state = sk->sk_state;
	if (state == TCP_LISTEN) {
		list_splice_init(&nsk->acceptq, &children);
		WRITE_ONCE(nsk->acceptq_len, 0);
	}
	WRITE_ONCE(sk->sk_state, TCP_CLOSE);
	spin_unlock(&nsk->lock);

	if (state == TCP_CLOSE) {
		/* a failed connection's DATA waiting for a turn: nobody wants it */
		nc_chan_drop_flows(nsk->txfl, ARRAY_SIZE(nsk->txfl));
	} else if (state == TCP_SYN_SENT) {
		nc_send(nsk, NC_T_RESET, 0);
	} else if (state == TCP_ESTABLISHED) {
		/*
		 * Unread data: abort like TCP does, which discards what it
		 * has not sent (DATA waiting for its turn; the RESET would
		 * pass it); otherwise a clean FIN.
		 */
		if (READ_ONCE(nsk->rxq_bytes) || READ_ONCE(nsk->ro.bytes)) {
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

	nc_demux_init(&nc_tbl, nc_tbl_buckets, NC_TBL_BUCKETS,
		      get_random_u32());
	nc_ports_init(&nc_ports);
	nc_mem_defaults();
	err = percpu_counter_init(&nc_sockets_allocated, 0, GFP_KERNEL);
	if (err)
		return err;
	err = proto_register(&nc_prot, 1);
	if (err) {
		percpu_counter_destroy(&nc_sockets_allocated);
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
		percpu_counter_destroy(&nc_sockets_allocated);
	}
	nc_dgram_registered = false;
	nc_stream_registered = false;
	nc_proto_registered = false;
	WARN_ON(nc_tbl.count);
}

void nc_sock_seq_show(struct seq_file *m)
{
	u32 count, ports;
	long pages;
	int cpu;

	spin_lock(&nc_tbl_lock);
	count = nc_tbl.count;
	ports = nc_ports.used;
	spin_unlock(&nc_tbl_lock);
	seq_printf(m, "sockets hashed %u ports_in_use %u\n", count, ports);
	/* exact: with what each CPU holds back from the total (up to 1 MiB) */
	pages = atomic_long_read(&nc_memory_allocated);
	for_each_possible_cpu(cpu)
		pages += *per_cpu_ptr(&nc_memory_fw_alloc, cpu);
	seq_printf(m, "mem pages %ld pressure %lu limits %ld %ld %ld\n",
		   max(0L, pages),
		   READ_ONCE(nc_memory_pressure), READ_ONCE(nc_mem[0]),
		   READ_ONCE(nc_mem[1]), READ_ONCE(nc_mem[2]));
}
