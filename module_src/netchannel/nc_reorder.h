/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_reorder.h - receive-side reorder queue of one connection direction.
 *
 * With striping, DATA frames of one connection travel on several channels
 * and arrive out of order.  Each carries the byte offset of its first
 * payload byte (wire v2).  The queue holds the frames that arrived ahead
 * of the next expected offset in an rbtree keyed by offset and hands them
 * out in order.  Frames are never re-cut by the sender (a retransmission
 * repeats a frame exactly), so a frame that partly overlaps another or
 * straddles the next expected offset is a protocol error, and one that
 * lies wholly before it, repeats a queued frame, or lies wholly inside a
 * queued buffer that small frames were merged into (nc_ro_extend(): its
 * first frame and the ones that continued it) is a duplicate.
 *
 * Memory is bounded by the credit window: a frame is accepted only if it
 * ends at or before the limit last granted to the peer (nc_ro_set_limit()),
 * so the queued bytes never exceed lim - nxt <= NC_WIN_MAX.
 *
 * The caller owns the frames (struct nc_ro_frag embedded in its own
 * buffer) and the locking; nothing here allocates.
 */
#ifndef _NC_REORDER_H
#define _NC_REORDER_H

#include "nc_compat.h"

struct nc_ro_frag {
	struct rb_node rb;
	u32 seq;	/* offset of the first byte */
	u32 len;	/* payload bytes; beyond NC_MAX_PAYLOAD once grown */
	bool grown;	/* frames merged into it by nc_ro_extend() */
};

struct nc_reorder {
	struct rb_root root;
	u32 nxt;	/* next offset to deliver; cumulative ACK value */
	u32 lim;	/* no byte at or beyond this is accepted */
	u32 fin;	/* final offset from CLOSE, if fin_set */
	bool fin_set;
	u32 bytes;	/* bytes queued out of order */
	u32 count;	/* frames queued out of order */
	u64 dups;	/* duplicates dropped */
};

enum {
	NC_RO_QUEUED = 0,	/* taken; pop with nc_ro_pop() when in order */
	NC_RO_DUP = 1,		/* duplicate: not taken, caller frees it */
};

void nc_ro_init(struct nc_reorder *q, u32 isn, u32 lim);
/* Grant more: lim never moves back nor beyond nxt + NC_WIN_MAX (-EPROTO). */
int nc_ro_set_limit(struct nc_reorder *q, u32 lim);
/*
 * CLOSE carried the final offset.  -EPROTO if it is behind nxt or behind
 * a queued frame, beyond the limit, or differs from an earlier one.
 */
int nc_ro_set_fin(struct nc_reorder *q, u32 fin);
/*
 * Offer a received frame.  NC_RO_QUEUED or NC_RO_DUP; -EINVAL for a bad
 * length, -ENOBUFS beyond the limit (the peer overran its credit),
 * -EPROTO for an overlap, a straddle, data after the final offset or an
 * offset too far behind to be a retransmission.  On error nothing changes.
 */
int nc_ro_insert(struct nc_reorder *q, struct nc_ro_frag *f);
/*
 * A frame [seq, seq + len) is a duplicate nc_ro_insert() would drop (it
 * counts nothing): check it first, before a caller merges a small frame
 * into a waiting buffer or charges a new one, which would take it for new
 * bytes.
 */
bool nc_ro_dup(const struct nc_reorder *q, u32 seq, u32 len);
/*
 * The queued frame that ends exactly at seq, or NULL.  A small frame that
 * continues it can go into its buffer (nc_ro_extend()) instead of a
 * buffer of its own: a peer that sends many small frames ahead of a gap
 * does not pin a buffer for each.
 */
struct nc_ro_frag *nc_ro_before(const struct nc_reorder *q, u32 seq);
/*
 * Grow f (from nc_ro_before()) by len bytes, as nc_ro_insert() would take
 * a frame [f->seq + f->len, + len): 0, or -EINVAL, -ENOBUFS, -EPROTO as
 * there, and then nothing changes.  The frame no longer matches what the
 * sender cut (a retransmission of either part is then an overlap).
 */
int nc_ro_extend(struct nc_reorder *q, struct nc_ro_frag *f, u32 len);
/* The next in-order frame, removed from the queue, or NULL. */
struct nc_ro_frag *nc_ro_pop(struct nc_reorder *q);
/* Every byte up to the final offset was delivered. */
bool nc_ro_fin_reached(const struct nc_reorder *q);
/* Remove every queued frame, handing each to release(). */
void nc_ro_purge(struct nc_reorder *q,
		 void (*release)(struct nc_ro_frag *f, void *arg), void *arg);

#endif /* _NC_REORDER_H */
