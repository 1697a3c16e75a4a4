// SPDX-License-Identifier: GPL-2.0
/*
 * nc_reorder.c - out-of-order queue of one connection direction (see
 * nc_reorder.h).  Pure logic: builds into the module and the unit tests.
 *
 * All queued frames lie in [nxt, lim) and lim - nxt <= NC_WIN_MAX < 2^31,
 * so offsets relative to nxt order them correctly across the 2^32 wrap.
 */
#include "nc_reorder.h"
#include "nc_wire.h"
#include "nc_credit.h"

void nc_ro_init(struct nc_reorder *q, u32 isn, u32 lim)
{
	memset(q, 0, sizeof(*q));
	q->root = RB_ROOT;
	q->nxt = isn;
	q->lim = (u32)(lim - isn) > NC_WIN_MAX ? isn : lim;
}

int nc_ro_set_limit(struct nc_reorder *q, u32 lim)
{
	if (nc_seq_lt(lim, q->lim) || (u32)(lim - q->nxt) > NC_WIN_MAX)
		return -EPROTO;
	q->lim = lim;
	return 0;
}

static u32 nc_ro_off(const struct nc_reorder *q, u32 seq)
{
	return seq - q->nxt;
}

int nc_ro_set_fin(struct nc_reorder *q, u32 fin)
{
	struct rb_node *last;
	struct nc_ro_frag *f;

	if (q->fin_set)
		return fin == q->fin ? 0 : -EPROTO;
	if (nc_ro_off(q, fin) > nc_ro_off(q, q->lim))
		return -EPROTO;
	last = rb_last(&q->root);
	if (last) {
		f = rb_entry(last, struct nc_ro_frag, rb);
		if (nc_ro_off(q, f->seq) + f->len > nc_ro_off(q, fin))
			return -EPROTO;
	}
	q->fin = fin;
	q->fin_set = true;
	return 0;
}

/*
 * Where [off, off + len) (relative to nxt) meets the queued frame n at noff:
 * NC_RO_DUP when it repeats n or lies inside the frames merged into it,
 * -EPROTO when it overlaps n otherwise, 0 when they are apart.
 */
static int nc_ro_meet(const struct nc_ro_frag *n, u32 noff, u32 off, u32 len)
{
	if (off + len <= noff || noff + n->len <= off)
		return 0;
	if (off == noff && len == n->len)
		return NC_RO_DUP;
	if (n->grown && off >= noff && off + len <= noff + n->len)
		return NC_RO_DUP;
	return -EPROTO;
}

bool nc_ro_dup(const struct nc_reorder *q, u32 seq, u32 len)
{
	struct rb_node *node = q->root.rb_node;
	u32 end = seq + len, off = nc_ro_off(q, seq);
	struct nc_ro_frag *n;

	if (!len || len > NC_MAX_PAYLOAD)
		return false;
	if (nc_seq_le(end, q->nxt))
		return q->nxt - end <= NC_WIN_MAX;
	if (nc_seq_lt(seq, q->nxt))
		return false;
	/* the queued frame with the largest offset at or below off */
	while (node) {
		n = rb_entry(node, struct nc_ro_frag, rb);
		if (nc_ro_off(q, n->seq) <= off) {
			if (nc_ro_meet(n, nc_ro_off(q, n->seq), off, len) == NC_RO_DUP)
				return true;
			node = node->rb_right;
		} else {
			node = node->rb_left;
		}
	}
	return false;
}

int nc_ro_insert(struct nc_reorder *q, struct nc_ro_frag *f)
{
	struct rb_node **link = &q->root.rb_node, *parent = NULL;
	u32 end, off, end_off, noff;
	struct nc_ro_frag *n;

	if (!f->len || f->len > NC_MAX_PAYLOAD)
		return -EINVAL;
	end = f->seq + f->len;
	if (nc_seq_le(end, q->nxt)) {
		/*
		 * A retransmission is never more than a window behind: the
		 * sender only repeats frames we did not acknowledge yet.
		 */
		if (q->nxt - end > NC_WIN_MAX)
			return -EPROTO;
		q->dups++;
		return NC_RO_DUP;
	}
	if (nc_seq_lt(f->seq, q->nxt))
		return -EPROTO;		/* straddles nxt: re-cut frame */
	off = nc_ro_off(q, f->seq);
	end_off = off + f->len;
	if (end_off > nc_ro_off(q, q->lim))
		return -ENOBUFS;
	if (q->fin_set && end_off > nc_ro_off(q, q->fin))
		return -EPROTO;

	/* both neighbours of the new frame are on the search path */
	while (*link) {
		int meet;

		parent = *link;
		n = rb_entry(parent, struct nc_ro_frag, rb);
		noff = nc_ro_off(q, n->seq);
		meet = nc_ro_meet(n, noff, off, f->len);
		if (meet == NC_RO_DUP)
			q->dups++;
		if (meet)
			return meet;
		link = off < noff ? &parent->rb_left : &parent->rb_right;
	}
	f->grown = false;
	rb_link_node(&f->rb, parent, link);
	rb_insert_color(&f->rb, &q->root);
	q->bytes += f->len;
	q->count++;
	return NC_RO_QUEUED;
}

struct nc_ro_frag *nc_ro_before(const struct nc_reorder *q, u32 seq)
{
	struct rb_node *node = q->root.rb_node;
	struct nc_ro_frag *f, *best = NULL;
	u32 off = nc_ro_off(q, seq);

	/* the queued frame with the largest offset below seq */
	while (node) {
		f = rb_entry(node, struct nc_ro_frag, rb);
		if (nc_ro_off(q, f->seq) < off) {
			best = f;
			node = node->rb_right;
		} else {
			node = node->rb_left;
		}
	}
	if (best && nc_ro_off(q, best->seq) + best->len == off)
		return best;
	return NULL;
}

int nc_ro_extend(struct nc_reorder *q, struct nc_ro_frag *f, u32 len)
{
	u32 end_off = nc_ro_off(q, f->seq) + f->len + len;
	struct rb_node *next;

	if (!len || len > NC_MAX_PAYLOAD || f->len + len < f->len)
		return -EINVAL;
	if (end_off > nc_ro_off(q, q->lim))
		return -ENOBUFS;
	if (q->fin_set && end_off > nc_ro_off(q, q->fin))
		return -EPROTO;
	next = rb_next(&f->rb);
	if (next && nc_ro_off(q, rb_entry(next, struct nc_ro_frag, rb)->seq) < end_off)
		return -EPROTO;
	f->len += len;
	f->grown = true;
	q->bytes += len;
	return 0;
}

struct nc_ro_frag *nc_ro_pop(struct nc_reorder *q)
{
	struct rb_node *first = rb_first(&q->root);
	struct nc_ro_frag *f;

	if (!first)
		return NULL;
	f = rb_entry(first, struct nc_ro_frag, rb);
	if (f->seq != q->nxt)
		return NULL;
	rb_erase(first, &q->root);
	q->nxt += f->len;
	q->bytes -= f->len;
	q->count--;
	return f;
}

bool nc_ro_fin_reached(const struct nc_reorder *q)
{
	return q->fin_set && q->nxt == q->fin;
}

void nc_ro_purge(struct nc_reorder *q,
		 void (*release)(struct nc_ro_frag *f, void *arg), void *arg)
{
	struct rb_node *node;
	struct nc_ro_frag *f;

	while ((node = rb_first(&q->root))) {
		f = rb_entry(node, struct nc_ro_frag, rb);
		rb_erase(node, &q->root);
		q->bytes -= f->len;
		q->count--;
		release(f, arg);
	}
}
