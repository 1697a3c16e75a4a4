// SPDX-License-Identifier: GPL-2.0
/*
 * nc_demux.c - connection lookup table and port bitmap.
 * Pure logic shared by the kernel module and the unit tests.
 */
#include "nc_demux.h"

int nc_demux_init(struct nc_demux *d, struct nc_dnode **buckets, u32 nbuckets,
		  u32 seed)
{
	u32 i;

	if (!nbuckets || (nbuckets & (nbuckets - 1)))
		return -EINVAL;
	d->buckets = buckets;
	d->mask = nbuckets - 1;
	d->count = 0;
	d->seed = seed;
	for (i = 0; i < nbuckets; i++)
		buckets[i] = NULL;
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

int nc_demux_insert(struct nc_demux *d, struct nc_dnode *n)
{
	struct nc_dnode **head;

	if (n->hashed)
		return -EBUSY;
	if (nc_demux_lookup(d, &n->key))
		return -EEXIST;
	head = &d->buckets[nc_dkey_hash(&n->key, d->seed) & d->mask];
	n->next = *head;
	*head = n;
	n->hashed = true;
	d->count++;
	return 0;
}

struct nc_dnode *nc_demux_lookup(const struct nc_demux *d,
				 const struct nc_dkey *k)
{
	struct nc_dnode *n = d->buckets[nc_dkey_hash(k, d->seed) & d->mask];

	for (; n; n = n->next)
		if (nc_dkey_eq(&n->key, k))
			return n;
	return NULL;
}

int nc_demux_remove(struct nc_demux *d, struct nc_dnode *n)
{
	struct nc_dnode **pp;

	if (!n->hashed)
		return -ENOENT;
	pp = &d->buckets[nc_dkey_hash(&n->key, d->seed) & d->mask];
	for (; *pp; pp = &(*pp)->next) {
		if (*pp != n)
			continue;
		*pp = n->next;
		n->next = NULL;
		n->hashed = false;
		d->count--;
		return 0;
	}
	return -ENOENT;
}

struct nc_dnode *nc_demux_next(const struct nc_demux *d, u32 *bucket,
			       struct nc_dnode *prev)
{
	if (prev && prev->next)
		return prev->next;
	if (prev)
		(*bucket)++;
	for (; *bucket <= d->mask; (*bucket)++)
		if (d->buckets[*bucket])
			return d->buckets[*bucket];
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
