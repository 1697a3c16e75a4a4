// SPDX-License-Identifier: GPL-2.0
/*
 * nc_sock.c - NetChannel virtual sockets: the socket table.  The demux
 * table of (peer, local port, remote port) with its lock-free lookup, the
 * local port map, SO_REUSEPORT groups, and the setup and destruction of a
 * struct nc_sock.  The layers above (nc_plumbing.c, nc_incoming.c,
 * nc_outgoing.c) call it; it calls only nc_mem.c, the pure files and the
 * predicate nc_socktab_find() is given.
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

int nc_hash(struct nc_sock *nsk)
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
int nc_listener_hash(struct nc_sock *nsk)
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
void nc_set_key(struct nc_sock *nsk, u32 peer, u16 rport)
{
	WARN_ON_ONCE(nc_dnode_hashed(&nsk->node));
	WRITE_ONCE(nsk->node.key.peer, peer);
	WRITE_ONCE(nsk->node.key.lport, nsk->lport);
	WRITE_ONCE(nsk->node.key.rport, rport);
}

void nc_unhash(struct nc_sock *nsk)
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
void nc_unhash_conn(struct nc_sock *nsk, u32 conn_id)
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
 * (the socket slab is SLAB_TYPESAFE_BY_RCU, see nc_prot in nc_plumbing.c:
 * what the walk finds may be freed, even reused for another socket, but
 * stays a struct nc_sock), a reference only if the socket's count is not zero,
 * and then, with the socket pinned, nc_demux_confirm() that it is in the
 * table with this key.  A miss there is not final (a node moved to
 * another chain, or reused, while the walk stood on it hides the rest of
 * its chain): the lookup is made again under the lock, and lookup_locked
 * counts those.
 */
struct nc_sock *nc_lookup(u32 peer, u16 lport, u16 rport)
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
struct nc_sock *nc_lookup_listener(u32 peer, u32 daddr, u16 port,
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

int nc_port_get(struct nc_sock *nsk, u16 port)
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

void nc_port_put(struct nc_sock *nsk)
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

void nc_sock_setup(struct nc_sock *nsk)
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
	nc_rtx_init(&nsk->rtx, 0);
	nc_rtx_reset(nsk, false);
}

void nc_sock_destruct(struct sock *sk)
{
	struct nc_sock *nsk = nc_sk(sk);
	u32 i;

	/* a frame kept for an ACK holds the socket: none can be left */
	WARN_ON_ONCE(nsk->rtx.count);
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

/*
 * The first hashed connection for which pred holds, with a reference
 * held and, in *conn_id, the incarnation it was found in (stable while it
 * is hashed); NULL if none.
 */
struct nc_sock *nc_socktab_find(bool (*pred)(struct nc_sock *, const void *),
				const void *arg, u32 *conn_id)
{
	struct nc_sock *found = NULL;
	struct nc_dnode *n;
	u32 b = 0;

	spin_lock(&nc_tbl_lock);
	for (n = nc_demux_next(&nc_tbl, &b, NULL); n;
	     n = nc_demux_next(&nc_tbl, &b, n)) {
		struct nc_sock *nsk = container_of(n, struct nc_sock, node);

		if (n->key.peer && pred(nsk, arg)) {
			found = nsk;
			*conn_id = READ_ONCE(nsk->conn_id);
			sock_hold(nc_to_sk(found));
			break;
		}
	}
	spin_unlock(&nc_tbl_lock);
	return found;
}

/*
 * fn for every connection in the table, in one pass under nc_tbl_lock:
 * it must not sleep, send, or take that lock (nsk->lock nests inside).
 */
void nc_socktab_each(void (*fn)(struct nc_sock *, void *), void *arg)
{
	struct nc_dnode *n;
	u32 b = 0;

	spin_lock(&nc_tbl_lock);
	for (n = nc_demux_next(&nc_tbl, &b, NULL); n;
	     n = nc_demux_next(&nc_tbl, &b, n))
		if (n->key.peer)
			fn(container_of(n, struct nc_sock, node), arg);
	spin_unlock(&nc_tbl_lock);
}

void nc_socktab_init(void)
{
	nc_demux_init(&nc_tbl, nc_tbl_buckets, NC_TBL_BUCKETS,
		      get_random_u32());
	nc_ports_init(&nc_ports);
}

void nc_socktab_exit(void)
{
	WARN_ON(nc_tbl.count);
}

void nc_socktab_seq_show(struct seq_file *m)
{
	u32 count, ports;

	spin_lock(&nc_tbl_lock);
	count = nc_tbl.count;
	ports = nc_ports.used;
	spin_unlock(&nc_tbl_lock);
	seq_printf(m, "sockets hashed %u ports_in_use %u\n", count, ports);
}
