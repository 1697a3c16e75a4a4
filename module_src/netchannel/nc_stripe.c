// SPDX-License-Identifier: GPL-2.0
/*
 * nc_stripe.c - channel choice for striped connections and the sender's
 * retransmit list (see nc_stripe.h).  Pure logic: builds into the module
 * and the unit tests.
 */
#include "nc_stripe.h"
#include "nc_wire.h"
#include "nc_credit.h"

unsigned int nc_stripe_home(u16 lport, u16 rport, unsigned int n)
{
	u32 h = ((u32)lport << 16 | rport) * 0x9e3779b1u;

	/*
	 * Scale by the product's high bits: its low 16 bits depend on rport
	 * alone, so h % n put every connection to one server port on the
	 * same channel.
	 */
	return (u32)(((u64)h * n) >> 32);
}

void nc_stripe_init(struct nc_stripe *st, int home)
{
	st->cur = home < 0 ? NC_CHAN_NONE : home;
	st->margin = 0;
	st->switches = 0;
}

static u64 nc_stripe_load_of(const struct nc_stripe_load *l)
{
	/* saturate rather than wrap on absurd inputs */
	return l->queued > U64_MAX - l->notsent ? U64_MAX :
						   l->queued + l->notsent;
}

int nc_stripe_least_loaded(const struct nc_stripe_load *ld, unsigned int n,
			   int prefer)
{
	u64 best_load = U64_MAX, load;
	int best = -ENOLINK;
	unsigned int i;

	if (prefer >= 0 && (unsigned int)prefer < n && ld[prefer].up) {
		best = prefer;
		best_load = nc_stripe_load_of(&ld[prefer]);
	}
	for (i = 0; i < n; i++) {
		if (!ld[i].up)
			continue;
		load = nc_stripe_load_of(&ld[i]);
		if (best < 0 || load < best_load) {
			best = (int)i;
			best_load = load;
		}
	}
	return best;
}

int nc_stripe_pick(struct nc_stripe *st, const struct nc_stripe_load *ld,
		   unsigned int n, u32 queued_frames)
{
	int c;

	if (queued_frames <= 1 && st->cur >= 0 &&
	    (unsigned int)st->cur < n && ld[st->cur].up)
		return st->cur;
	c = nc_stripe_least_loaded(ld, n, st->cur);
	if (c < 0)
		return c;
	if (st->margin && st->cur >= 0 && (unsigned int)st->cur < n &&
	    c != st->cur && ld[st->cur].up) {
		u64 here = nc_stripe_load_of(&ld[st->cur]);

		if (here < st->margin ||
		    nc_stripe_load_of(&ld[c]) > here - st->margin)
			return st->cur;
	}
	if (st->cur >= 0 && c != st->cur)
		st->switches++;
	st->cur = c;
	return c;
}

void nc_rtx_init(struct nc_rtx *r, u32 isn)
{
	memset(r, 0, sizeof(*r));
	INIT_LIST_HEAD(&r->frames);
	r->una = isn;
	r->nxt = isn;
}

int nc_rtx_sent(struct nc_rtx *r, struct nc_rtx_frame *f, int chan)
{
	if (f->seq != r->nxt || !f->len || f->len > NC_MAX_PAYLOAD ||
	    r->nxt + f->len - r->una > NC_WIN_MAX)
		return -EINVAL;
	f->chan = chan < 0 ? NC_CHAN_NONE : chan;
	f->sends = 1;
	list_add_tail(&f->node, &r->frames);
	r->nxt += f->len;
	r->bytes += f->len;
	r->count++;
	if (f->chan == NC_CHAN_NONE)
		r->orphans++;
	return 0;
}

int nc_rtx_ack(struct nc_rtx *r, u32 ack,
	       void (*release)(struct nc_rtx_frame *f, void *arg), void *arg)
{
	struct nc_rtx_frame *f, *tmp;
	u32 ack_off = ack - r->una;
	int done = 0;

	if (ack == r->una)
		return 0;
	if (nc_seq_lt(ack, r->una))
		return r->una - ack > NC_WIN_MAX ? -EPROTO : 0;
	if (ack_off > r->nxt - r->una)
		return -EPROTO;
	/* an ACK falls on a frame boundary: check before touching anything */
	list_for_each_entry(f, &r->frames, node) {
		u32 end_off = f->seq + f->len - r->una;

		if (end_off == ack_off)
			break;
		if (end_off > ack_off)
			return -EPROTO;
	}
	list_for_each_entry_safe(f, tmp, &r->frames, node) {
		if (f->seq + f->len - r->una > ack_off)
			break;
		list_del(&f->node);
		r->bytes -= f->len;
		r->count--;
		if (f->chan == NC_CHAN_NONE)
			r->orphans--;
		release(f, arg);
		done++;
	}
	r->una = ack;
	return done;
}

int nc_rtx_requeue(struct nc_rtx *r, struct nc_stripe_load *ld,
		   unsigned int n,
		   void (*resend)(struct nc_rtx_frame *f, void *arg),
		   void *arg)
{
	struct nc_rtx_frame *f;
	int c, done = 0;

	if (!r->orphans)
		return 0;
	list_for_each_entry(f, &r->frames, node) {
		if (f->chan != NC_CHAN_NONE)
			continue;
		c = nc_stripe_least_loaded(ld, n, NC_CHAN_NONE);
		if (c < 0)
			return -ENOLINK;
		f->chan = c;
		f->gen = ld[c].gen;
		f->sends++;
		ld[c].queued += f->len;
		r->orphans--;
		r->resent++;
		done++;
		resend(f, arg);
	}
	return done;
}

u32 nc_rtx_revalidate(struct nc_rtx *r, const struct nc_stripe_load *now,
		      unsigned int n)
{
	struct nc_rtx_frame *f;

	list_for_each_entry(f, &r->frames, node) {
		if (f->chan == NC_CHAN_NONE)
			continue;
		if ((unsigned int)f->chan < n && now[f->chan].up &&
		    now[f->chan].gen == f->gen)
			continue;
		f->chan = NC_CHAN_NONE;
		r->orphans++;
	}
	return r->orphans;
}

int nc_rtx_chan_lost(struct nc_rtx *r, int chan, struct nc_stripe_load *ld,
		     unsigned int n,
		     void (*resend)(struct nc_rtx_frame *f, void *arg),
		     void *arg)
{
	struct nc_rtx_frame *f;

	if (chan < 0)
		return -EINVAL;
	if ((unsigned int)chan < n)
		ld[chan].up = false;
	list_for_each_entry(f, &r->frames, node) {
		if (f->chan == chan) {
			f->chan = NC_CHAN_NONE;
			r->orphans++;
		}
	}
	return nc_rtx_requeue(r, ld, n, resend, arg);
}

void nc_rtx_purge(struct nc_rtx *r,
		  void (*release)(struct nc_rtx_frame *f, void *arg),
		  void *arg)
{
	struct nc_rtx_frame *f, *tmp;

	list_for_each_entry_safe(f, tmp, &r->frames, node) {
		list_del(&f->node);
		release(f, arg);
	}
	r->bytes = 0;
	r->count = 0;
	r->orphans = 0;
	r->una = r->nxt;
}

void nc_drr_init(struct nc_drr *d, u32 quantum,
		 u32 (*len)(const struct list_head *item))
{
	INIT_LIST_HEAD(&d->active);
	d->len = len;
	d->quantum = quantum ? quantum : 1;
	d->flows = 0;
	d->turns = 0;
}

void nc_drr_flow_init(struct nc_drr_flow *fl)
{
	INIT_LIST_HEAD(&fl->node);
	INIT_LIST_HEAD(&fl->q);
	fl->on = NULL;
	fl->deficit = 0;
}

int nc_drr_enqueue(struct nc_drr *d, struct nc_drr_flow *fl,
		   struct list_head *item)
{
	if (list_empty(&fl->q)) {
		fl->deficit = d->quantum;
		fl->on = d;
		list_add_tail(&fl->node, &d->active);
		d->flows++;
	} else if (fl->on != d) {
		return -EBUSY;
	}
	list_add_tail(item, &fl->q);
	return 0;
}

/* fl has no items left: out of the line, and free for any nc_drr. */
static void nc_drr_idle(struct nc_drr *d, struct nc_drr_flow *fl)
{
	list_del_init(&fl->node);
	fl->deficit = 0;
	d->flows--;
	/* the flow's fields before on: see struct nc_drr */
	smp_store_release(&fl->on, NULL);
}

struct list_head *nc_drr_dequeue(struct nc_drr *d)
{
	while (!list_empty(&d->active)) {
		struct nc_drr_flow *fl = list_first_entry(&d->active,
							  struct nc_drr_flow,
							  node);
		struct list_head *item = fl->q.next;
		u32 len = d->len(item);

		if (len <= fl->deficit) {
			fl->deficit -= len;
			list_del_init(item);
			if (list_empty(&fl->q))
				nc_drr_idle(d, fl);
			return item;
		}
		/* its turn is over: the next one, with a quantum more */
		fl->deficit += d->quantum;
		list_move_tail(&fl->node, &d->active);
		d->turns++;
	}
	return NULL;
}

void nc_drr_flow_purge(struct nc_drr *d, struct nc_drr_flow *fl,
		       struct list_head *out)
{
	if (fl->on != d || list_empty(&fl->q))
		return;
	list_splice_tail_init(&fl->q, out);
	nc_drr_idle(d, fl);
}

void nc_drr_purge(struct nc_drr *d, struct list_head *out)
{
	struct nc_drr_flow *fl, *tmp;

	list_for_each_entry_safe(fl, tmp, &d->active, node) {
		list_splice_tail_init(&fl->q, out);
		nc_drr_idle(d, fl);
	}
}
