/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_stripe.h - sender side of striping: which channel of a class carries
 * the next DATA frame of a connection, and the retransmit list that keeps
 * frames until the peer acknowledges them.
 *
 * Scheduler.  The caller describes the channels of the connection's class
 * (struct nc_stripe_load: bytes queued in NetChannel for the channel, bytes
 * TCP holds but has not sent yet, and whether the channel is up); nothing
 * here reads kernel state.  While the connection has a single frame queued
 * it stays on the channel it used last (no reordering for request/response
 * traffic); with more queued it joins the least-loaded channel, preferring
 * the current one on a tie.
 *
 * Retransmit list.  Every DATA frame sent is recorded in offset order with
 * the channel it went on; a cumulative ACK releases the frames before it.
 * When a channel is lost, its unacknowledged frames are given to the
 * least-loaded sibling (the receiver drops what it already had); with no
 * sibling up they wait as orphans until nc_rtx_requeue() finds one.
 * resend() must give the channel its own reference or copy of the frame:
 * an ACK may release the list's frame before the channel has sent it.
 */
#ifndef _NC_STRIPE_H
#define _NC_STRIPE_H

#include "nc_compat.h"

#define NC_CHAN_NONE		(-1)

struct nc_stripe_load {
	u64 queued;	/* bytes queued in NetChannel for this channel */
	u64 notsent;	/* bytes in TCP's send queue not yet sent */
	u32 gen;	/* the channel's incarnation (nc_rtx_revalidate()) */
	bool up;
};

struct nc_stripe {
	int cur;	/* channel used last, NC_CHAN_NONE before the first */
	u64 margin;	/* leave cur only for a channel this much lighter */
	u64 switches;	/* times the connection changed channel */
};

/*
 * Home channel of a connection among n channels of its class (0 when n is
 * 0), from both ports: connections from many local ports to one server
 * port spread over the channels.
 */
unsigned int nc_stripe_home(u16 lport, u16 rport, unsigned int n);
void nc_stripe_init(struct nc_stripe *st, int home);
/* Least-loaded channel that is up (ties: prefer, then lowest), or -ENOLINK. */
int nc_stripe_least_loaded(const struct nc_stripe_load *ld, unsigned int n,
			   int prefer);
/*
 * Channel for the next frame of the connection; queued_frames counts its
 * frames waiting to be sent, this one included.  With a margin (0 after
 * nc_stripe_init()) the connection leaves a channel that is up only for
 * one with at least margin bytes less load: small frames do not hop
 * between channels that are about as busy.  -ENOLINK if no channel
 * is up.  The caller adds the frame's bytes to ld[result].queued.
 */
int nc_stripe_pick(struct nc_stripe *st, const struct nc_stripe_load *ld,
		   unsigned int n, u32 queued_frames);

struct nc_rtx_frame {
	struct list_head node;
	u32 seq;	/* offset of the first byte */
	u32 len;
	int chan;	/* channel it was (re)sent on, NC_CHAN_NONE if orphan */
	u32 gen;	/* that channel's incarnation then (the caller's) */
	u32 sends;	/* 1 + retransmissions */
};

struct nc_rtx {
	struct list_head frames;	/* unacknowledged, in offset order */
	u32 una;	/* oldest unacknowledged offset */
	u32 nxt;	/* offset after the last frame recorded */
	u32 bytes;
	u32 count;
	u32 orphans;	/* frames waiting for a channel */
	u64 resent;	/* frames handed out again */
};

void nc_rtx_init(struct nc_rtx *r, u32 isn);
/*
 * Record a frame just queued on chan (f->gen set by the caller), or an
 * orphan with NC_CHAN_NONE.  It must start at r->nxt and have
 * 1..NC_MAX_PAYLOAD bytes (-EINVAL otherwise, nothing recorded).
 */
int nc_rtx_sent(struct nc_rtx *r, struct nc_rtx_frame *f, int chan);
/*
 * Apply a cumulative ACK: release() every frame wholly before ack and
 * return how many.  An ACK older than una (ACKs travel on any channel)
 * is ignored (0).  -EPROTO, nothing released, for an ACK beyond nxt, one
 * more than a window behind, or one that falls inside a frame.
 */
int nc_rtx_ack(struct nc_rtx *r, u32 ack,
	       void (*release)(struct nc_rtx_frame *f, void *arg), void *arg);
/*
 * Channel lost: mark it down in ld, orphan its frames and requeue them
 * as nc_rtx_requeue() does.  Returns the frames handed to resend().
 */
int nc_rtx_chan_lost(struct nc_rtx *r, int chan, struct nc_stripe_load *ld,
		     unsigned int n,
		     void (*resend)(struct nc_rtx_frame *f, void *arg),
		     void *arg);
/*
 * Orphan every frame whose channel is no longer what carried it: down in
 * now[], a new incarnation (gen), or beyond n.  Returns the orphans.
 */
u32 nc_rtx_revalidate(struct nc_rtx *r, const struct nc_stripe_load *now,
		      unsigned int n);
/*
 * Give every orphan, in offset order, to the least-loaded channel that is
 * up (f->chan and f->gen set, its bytes added to ld[f->chan].queued, then
 * resend()).
 * Returns the number requeued; -ENOLINK if orphans remain and no channel
 * is up (they stay orphans).
 */
int nc_rtx_requeue(struct nc_rtx *r, struct nc_stripe_load *ld,
		   unsigned int n,
		   void (*resend)(struct nc_rtx_frame *f, void *arg),
		   void *arg);
/* Release every frame (connection gone). */
void nc_rtx_purge(struct nc_rtx *r,
		  void (*release)(struct nc_rtx_frame *f, void *arg),
		  void *arg);

/*
 * Fair service between the connections that share a channel: deficit
 * round robin.  A connection's frames queued on one channel form a flow;
 * the flows that have frames take turns, and a turn lets a flow send up
 * to the quantum in bytes plus what it left unused of its last turns (the
 * deficit, kept only while the flow has frames).  A flow that becomes
 * busy starts with one quantum at the back of the line.  With a quantum
 * of at least the largest frame each turn sends a frame or more, so a
 * connection that queues one frame waits for at most one turn of each
 * flow ahead of it, however much those have queued, instead of behind
 * all of it.  Items are list_heads the caller embeds in its frames and
 * measures with len(); the caller's lock covers everything here.  A flow
 * belongs to one nc_drr while it has frames (on; NULL when idle, written
 * with release order so that a reader that sees NULL under another lock
 * may take the flow for its own queue).
 */
struct nc_drr;

struct nc_drr_flow {
	struct list_head node;	/* in on->active while q has items */
	struct list_head q;	/* its items, in the order queued */
	struct nc_drr *on;
	u32 deficit;
};

struct nc_drr {
	struct list_head active;	/* busy flows, in turn order */
	u32 (*len)(const struct list_head *item);
	u32 quantum;
	u32 flows;		/* busy flows */
	u64 turns;		/* turns that ended with items left */
};

/* A quantum of 0 is taken as 1. */
void nc_drr_init(struct nc_drr *d, u32 quantum,
		 u32 (*len)(const struct list_head *item));
void nc_drr_flow_init(struct nc_drr_flow *fl);
/*
 * Queue item at the end of fl.  -EBUSY (nothing queued) if fl has items
 * queued on another nc_drr: their order would be lost.
 */
int nc_drr_enqueue(struct nc_drr *d, struct nc_drr_flow *fl,
		   struct list_head *item);
/* The next item in fair order, taken off its flow; NULL if none. */
struct list_head *nc_drr_dequeue(struct nc_drr *d);
/* Move every item to the end of out, flow by flow; every flow idle. */
void nc_drr_purge(struct nc_drr *d, struct list_head *out);
/* Move fl's items to the end of out and leave it idle, if it is busy on d. */
void nc_drr_flow_purge(struct nc_drr *d, struct nc_drr_flow *fl,
		       struct list_head *out);

#endif /* _NC_STRIPE_H */
