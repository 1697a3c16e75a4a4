// SPDX-License-Identifier: GPL-2.0
/*
 * nc_demux.c - connection lookup table and port bitmap.
 * Pure logic shared by the kernel module and the unit tests.
 */
#include "nc_demux.h"

int nc_demux_init(struct nc_demux *d, struct nc_dnode __rcu **buckets,
		  u32 nbuckets, u32 seed)
{
	u32 i;

	if (!nbuckets || (nbuckets & (nbuckets - 1)))
		return -EINVAL;
	d->buckets = buckets;
	d->mask = nbuckets - 1;
	d->count = 0;
	d->seed = seed;
	for (i = 0; i < nbuckets; i++)
		RCU_INIT_POINTER(buckets[i], NULL);
	return 0;
}

static u32 nc_mix32(u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h;
}

u32 nc_dkey_hash(const struct nc_dkey *k, u32 seed)
{
	u32 h = nc_mix32(k->peer ^ seed);

	return nc_mix32(h ^ ((u32)k->lport << 16 | k->rport));
}

u32 nc_reuse_pick(u32 peer, u16 rport, u32 seed, u32 n)
{
	u32 h = nc_mix32(nc_mix32(peer ^ seed) ^ rport);

	return (u32)(((u64)h * n) >> 32);
}

bool nc_daddr_ok(u32 daddr, u32 local_ip, bool from_self)
{
	if (daddr == local_ip)
		return true;
	return from_self && (daddr >> 24) == 127;
}

bool nc_listen_match(u32 bound, u32 daddr)
{
	return bound == 0 || bound == daddr;
}

static bool nc_dkey_eq(const struct nc_dkey *a, const struct nc_dkey *b)
{
	return a->peer == b->peer && a->lport == b->lport &&
	       a->rport == b->rport;
}

/* n's key, read while its owner may be changing it (n out of the table) */
static bool nc_dkey_eq_once(const struct nc_dnode *n, const struct nc_dkey *k)
{
	return READ_ONCE(n->key.peer) == k->peer &&
	       READ_ONCE(n->key.lport) == k->lport &&
	       READ_ONCE(n->key.rport) == k->rport;
}

static struct nc_dnode __rcu **nc_demux_head(const struct nc_demux *d,
					     const struct nc_dkey *k)
{
	return &d->buckets[nc_dkey_hash(k, d->seed) & d->mask];
}

int nc_demux_insert(struct nc_demux *d, struct nc_dnode *n)
{
	struct nc_dnode __rcu **head;

	if (nc_dnode_hashed(n))
		return -EBUSY;
	if (nc_demux_lookup(d, &n->key))
		return -EEXIST;
	head = nc_demux_head(d, &n->key);
	/* the key before the odd gen (nc_demux_confirm() reads them back) */
	smp_wmb();
	WRITE_ONCE(n->gen, n->gen + 1);
	RCU_INIT_POINTER(n->next, nc_rcu_locked(*head));
	/* key, gen and next before the node can be reached */
	rcu_assign_pointer(*head, n);
	d->count++;
	return 0;
}

struct nc_dnode *nc_demux_lookup(const struct nc_demux *d,
				 const struct nc_dkey *k)
{
	struct nc_dnode *n = nc_rcu_locked(*nc_demux_head(d, k));

	for (; n; n = nc_rcu_locked(n->next))
		if (nc_dkey_eq(&n->key, k))
			return n;
	return NULL;
}

struct nc_dnode *nc_demux_lookup_rcu(const struct nc_demux *d,
				     const struct nc_dkey *k)
{
	struct nc_dnode *n = nc_rcu_deref(*nc_demux_head(d, k));

	for (; n; n = nc_rcu_deref(n->next))
		if (nc_dkey_eq_once(n, k))
			return n;
	return NULL;
}

bool nc_demux_confirm(const struct nc_dnode *n, const struct nc_dkey *k)
{
	u32 gen = READ_ONCE(n->gen);
	bool eq;

	if (!(gen & 1))
		return false;
	smp_rmb();	/* gen, then the key: pairs with insert's smp_wmb() */
	eq = nc_dkey_eq_once(n, k);
	smp_rmb();	/* the key, then gen again: pairs with remove's */
	return eq && READ_ONCE(n->gen) == gen;
}

/*
 * n->next is left as it is: a reader without the lock may stand on n and
 * still walk on to the rest of the chain.
 */
int nc_demux_remove(struct nc_demux *d, struct nc_dnode *n)
{
	struct nc_dnode __rcu **pp;
	struct nc_dnode *cur;

	if (!nc_dnode_hashed(n))
		return -ENOENT;
	pp = nc_demux_head(d, &n->key);
	for (; (cur = nc_rcu_locked(*pp)); pp = &cur->next) {
		if (cur != n)
			continue;
		rcu_assign_pointer(*pp, nc_rcu_locked(n->next));
		WRITE_ONCE(n->gen, n->gen + 1);
		/* the even gen before any change the owner makes to the key */
		smp_wmb();
		d->count--;
		return 0;
	}
	return -ENOENT;
}

struct nc_dnode *nc_demux_next(const struct nc_demux *d, u32 *bucket,
			       struct nc_dnode *prev)
{
	struct nc_dnode *n;

	if (prev) {
		n = nc_rcu_locked(prev->next);
		if (n)
			return n;
		(*bucket)++;
	}
	for (; *bucket <= d->mask; (*bucket)++) {
		n = nc_rcu_locked(d->buckets[*bucket]);
		if (n)
			return n;
	}
	return NULL;
}

void nc_ports_init(struct nc_portmap *pm)
{
	memset(pm, 0, sizeof(*pm));
}

bool nc_ports_in_use(const struct nc_portmap *pm, u16 port)
{
	return pm->bits[port / 64] & (1ULL << (port % 64));
}

int nc_ports_reserve(struct nc_portmap *pm, u16 port)
{
	if (!port)
		return -EINVAL;
	if (nc_ports_in_use(pm, port))
		return -EADDRINUSE;
	pm->bits[port / 64] |= 1ULL << (port % 64);
	pm->used++;
	return 0;
}

int nc_ports_alloc(struct nc_portmap *pm, u16 lo, u16 hi, u32 hint)
{
	u32 span, i, p;

	if (!lo || hi < lo)
		return -EINVAL;
	span = (u32)hi - lo + 1;
	for (i = 0; i < span; i++) {
		p = lo + (hint + i) % span;
		if (!nc_ports_in_use(pm, (u16)p)) {
			nc_ports_reserve(pm, (u16)p);
			return (int)p;
		}
	}
	return -EADDRNOTAVAIL;
}

int nc_ports_release(struct nc_portmap *pm, u16 port)
{
	if (!port || !nc_ports_in_use(pm, port))
		return -ENOENT;
	pm->bits[port / 64] &= ~(1ULL << (port % 64));
	pm->used--;
	return 0;
}
