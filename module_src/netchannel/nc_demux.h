/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_demux.h - demultiplexing table (peer, local port, remote port) ->
 * connection, and the virtual port space.  No locking here: the caller
 * serialises every change and nc_demux_lookup() (the module uses one
 * spinlock); nc_demux_lookup_rcu() and nc_demux_confirm() run without it,
 * under rcu_read_lock() in the module.
 *
 * Listening sockets are stored with peer 0 and remote port 0.
 */
#ifndef _NC_DEMUX_H
#define _NC_DEMUX_H

#include "nc_compat.h"

struct nc_dkey {
	u32 peer;	/* peer IPv4, host byte order; 0 for listeners */
	u16 lport;
	u16 rport;
};

/*
 * gen is odd while the node is in the table: insert and remove each add
 * one.  The owner changes key only while the node is out (gen even), so a
 * reader without the lock that sees the same odd gen before and after
 * reading key has read a key the node had in the table (a seqcount whose
 * odd values are the stable ones).
 */
struct nc_dnode {
	struct nc_dnode __rcu *next;
	struct nc_dkey key;
	u32 gen;
};

static inline bool nc_dnode_hashed(const struct nc_dnode *n)
{
	return READ_ONCE(n->gen) & 1;
}

struct nc_demux {
	struct nc_dnode __rcu **buckets;
	u32 mask;
	u32 count;
	u32 seed;
};

int nc_demux_init(struct nc_demux *d, struct nc_dnode __rcu **buckets,
		  u32 nbuckets, u32 seed);
u32 nc_dkey_hash(const struct nc_dkey *k, u32 seed);
int nc_demux_insert(struct nc_demux *d, struct nc_dnode *n);
struct nc_dnode *nc_demux_lookup(const struct nc_demux *d,
				 const struct nc_dkey *k);
int nc_demux_remove(struct nc_demux *d, struct nc_dnode *n);
/*
 * Without the lock, concurrently with changes (in the module: under
 * rcu_read_lock(), and a node's memory stays a node for a grace period,
 * even when freed: the socket slab is SLAB_TYPESAFE_BY_RCU).  A node
 * returned had key k when read; the caller pins it (a reference) and then
 * asks nc_demux_confirm(), which says whether it is still in the table
 * with that key.  NULL is not an answer: a node removed and inserted in
 * another chain (or freed and reused) while the walk stood on it leads the
 * walk away from the rest of its chain, so a miss is asked again under
 * the lock.
 */
struct nc_dnode *nc_demux_lookup_rcu(const struct nc_demux *d,
				     const struct nc_dkey *k);
bool nc_demux_confirm(const struct nc_dnode *n, const struct nc_dkey *k);
/*
 * Iterate: start with *bucket = 0 and prev = NULL; returns the next node
 * or NULL at the end.  Removing the returned node before the next call
 * is allowed only via nc_demux_remove() and then passing prev = NULL to
 * restart the current bucket.
 */
struct nc_dnode *nc_demux_next(const struct nc_demux *d, u32 *bucket,
			       struct nc_dnode *prev);

/*
 * SO_REUSEPORT: which of a port's n listeners (0..n-1) takes a new
 * connection from (peer, rport).  The same peer and port always land on
 * the same listener while n stays the same; different ones spread evenly.
 */
u32 nc_reuse_pick(u32 peer, u16 rport, u32 seed, u32 n);

/*
 * Where a CONNECT may go, as IP delivery decides it for TCP (addresses in
 * host byte order).  A peer reaches this host at its table address
 * (local_ip) only; the host itself also at any 127/8 address.  A listener
 * takes the connection when bound to INADDR_ANY or to that very address.
 */
bool nc_daddr_ok(u32 daddr, u32 local_ip, bool from_self);
bool nc_listen_match(u32 bound, u32 daddr);

/* Virtual port space: one bit per port. */
#define NC_PORT_EPH_LO	32768
#define NC_PORT_EPH_HI	60999

struct nc_portmap {
	u64 bits[65536 / 64];
	u32 used;
};

void nc_ports_init(struct nc_portmap *pm);
int nc_ports_reserve(struct nc_portmap *pm, u16 port);
/* Allocate a free port in [lo, hi] starting the search at hint. */
int nc_ports_alloc(struct nc_portmap *pm, u16 lo, u16 hi, u32 hint);
int nc_ports_release(struct nc_portmap *pm, u16 port);
bool nc_ports_in_use(const struct nc_portmap *pm, u16 port);

#endif /* _NC_DEMUX_H */
