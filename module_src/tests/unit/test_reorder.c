// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_reorder.c: the receive-side out-of-order queue. */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_reorder.h"
#include "../../netchannel/nc_wire.h"
#include "../../netchannel/nc_credit.h"

static struct nc_ro_frag fr(u32 seq, u32 len)
{
	struct nc_ro_frag f = { .seq = seq, .len = len };

	return f;
}

static bool tree_ok(const struct nc_reorder *q)
{
	return nc_rb_check(q->root.rb_node, NULL) == (long)q->count;
}

NC_TEST(ro_in_order)
{
	struct nc_reorder q;
	struct nc_ro_frag a = fr(100, 10), b = fr(110, 5);

	nc_ro_init(&q, 100, 1100);
	CHECK(nc_ro_pop(&q) == NULL);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &a);
	CHECK(nc_ro_pop(&q) == NULL);
	CHECK_EQ(q.nxt, 110);
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &b);
	CHECK_EQ(q.nxt, 115);
	CHECK_EQ(q.bytes, 0);
	CHECK_EQ(q.count, 0);
	CHECK(RB_EMPTY_ROOT(&q.root));
}

NC_TEST(ro_out_of_order)
{
	struct nc_reorder q;
	struct nc_ro_frag f[4] = { fr(0, 10), fr(10, 20), fr(30, 1),
				   fr(31, 9) };

	nc_ro_init(&q, 0, 1000);
	CHECK_EQ(nc_ro_insert(&q, &f[3]), NC_RO_QUEUED);
	CHECK_EQ(nc_ro_insert(&q, &f[1]), NC_RO_QUEUED);
	CHECK_EQ(nc_ro_insert(&q, &f[2]), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == NULL);		/* hole at 0 */
	CHECK_EQ(q.bytes, 30);
	CHECK_EQ(q.count, 3);
	CHECK(tree_ok(&q));
	CHECK_EQ(nc_ro_insert(&q, &f[0]), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &f[0]);
	CHECK(nc_ro_pop(&q) == &f[1]);
	CHECK(nc_ro_pop(&q) == &f[2]);
	CHECK(nc_ro_pop(&q) == &f[3]);
	CHECK(nc_ro_pop(&q) == NULL);
	CHECK_EQ(q.nxt, 40);
	CHECK_EQ(q.bytes, 0);
	CHECK_EQ(q.count, 0);
}

/*
 * Small frames that continue a queued one grow it instead of taking a
 * buffer each: nc_ro_before() finds the frame that ends where the new one
 * starts, nc_ro_extend() checks the new bytes as an insert would.
 */
NC_TEST(ro_extend)
{
	struct nc_reorder q;
	struct nc_ro_frag a = fr(0xfffffff0u + 10, 4), b = fr(0xfffffff0u + 30, 5);

	nc_ro_init(&q, 0xfffffff0u, 0xfffffff0u + 100);	/* across the wrap */
	CHECK(nc_ro_before(&q, a.seq) == NULL);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);
	CHECK(nc_ro_before(&q, 0xfffffff0u + 14) == &a);
	CHECK(nc_ro_before(&q, 0xfffffff0u + 15) == NULL);	/* a gap */
	CHECK(nc_ro_before(&q, 0xfffffff0u + 35) == &b);
	CHECK(nc_ro_before(&q, 0xfffffff0u + 12) == NULL);	/* inside a */
	CHECK_EQ(nc_ro_extend(&q, &a, 16), 0);			/* up to b */
	CHECK_EQ(a.len, 20);
	CHECK_EQ(q.bytes, 25);
	CHECK_EQ(q.count, 2);
	CHECK_EQ(nc_ro_extend(&q, &a, 1), -EPROTO);		/* into b */
	CHECK_EQ(nc_ro_extend(&q, &b, 0), -EINVAL);
	CHECK_EQ(nc_ro_extend(&q, &b, 66), -ENOBUFS);		/* past the limit */
	CHECK_EQ(nc_ro_set_fin(&q, 0xfffffff0u + 40), 0);
	CHECK_EQ(nc_ro_extend(&q, &b, 6), -EPROTO);		/* past the end */
	CHECK_EQ(nc_ro_extend(&q, &b, 5), 0);
	CHECK_EQ(b.len, 10);
	CHECK_EQ(q.bytes, 30);
	CHECK(tree_ok(&q));
	/* the hole filled: both come out, grown */
	{
		struct nc_ro_frag h = fr(0xfffffff0u, 10);

		CHECK_EQ(nc_ro_insert(&q, &h), NC_RO_QUEUED);
		CHECK(nc_ro_pop(&q) == &h);
		CHECK(nc_ro_pop(&q) == &a);
		CHECK(nc_ro_pop(&q) == &b);
		CHECK(nc_ro_fin_reached(&q));
		CHECK_EQ(q.bytes, 0);
	}
}

NC_TEST(ro_duplicates_and_overlaps)
{
	struct nc_reorder q;
	struct nc_ro_frag a = fr(0, 10), b = fr(20, 10), x;

	nc_ro_init(&q, 0, 1000);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &a);
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);
	/* delivered already: duplicate */
	x = fr(0, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_DUP);
	/* queued already: duplicate */
	x = fr(20, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_DUP);
	CHECK_EQ(q.dups, 2);
	/* same offset, other length: the sender re-cut a frame */
	x = fr(20, 9);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* overlaps the queued frame from the left and from the right */
	x = fr(15, 6);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	x = fr(29, 2);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	x = fr(25, 1);				/* inside it */
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* straddles the next expected offset (10) */
	x = fr(5, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* more than a window behind: not a retransmission */
	x = fr(10 - NC_WIN_MAX - 100, 50);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* bad lengths */
	x = fr(10, 0);
	CHECK_EQ(nc_ro_insert(&q, &x), -EINVAL);
	x = fr(10, NC_MAX_PAYLOAD + 1);
	CHECK_EQ(nc_ro_insert(&q, &x), -EINVAL);
	/* nothing changed by the refusals; touching neighbours are fine */
	CHECK_EQ(q.bytes, 10);
	CHECK_EQ(q.count, 1);
	CHECK_EQ(q.dups, 2);
	CHECK(tree_ok(&q));
	x = fr(10, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &x);
	CHECK(nc_ro_pop(&q) == &b);
	CHECK_EQ(q.nxt, 30);
}

NC_TEST(ro_budget_is_the_credit_limit)
{
	struct nc_reorder q;
	struct nc_ro_frag a = fr(1000, 24), b = fr(4000, 96), c = fr(4000, 97);

	nc_ro_init(&q, 0, 4096);
	CHECK_EQ(nc_ro_insert(&q, &c), -ENOBUFS);	/* one byte over */
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);	/* ends at the limit */
	c = fr(5000, 1);
	CHECK_EQ(nc_ro_insert(&q, &c), -ENOBUFS);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK_EQ(q.bytes, 120);
	/* the limit grows, never shrinks, never beyond a window from nxt */
	CHECK_EQ(nc_ro_set_limit(&q, 8192), 0);
	CHECK_EQ(nc_ro_insert(&q, &c), NC_RO_QUEUED);
	CHECK_EQ(nc_ro_set_limit(&q, 8191), -EPROTO);
	CHECK_EQ(nc_ro_set_limit(&q, NC_WIN_MAX + 1), -EPROTO);
	CHECK_EQ(nc_ro_set_limit(&q, NC_WIN_MAX), 0);
	CHECK_EQ(q.lim, NC_WIN_MAX);
	/* an initial limit behind isn or too far ahead grants nothing */
	nc_ro_init(&q, 100, 50);
	CHECK_EQ(q.lim, 100);
	a = fr(100, 1);
	CHECK_EQ(nc_ro_insert(&q, &a), -ENOBUFS);
	nc_ro_init(&q, 100, 100 + NC_WIN_MAX + 1);
	CHECK_EQ(q.lim, 100);
}

NC_TEST(ro_wraparound)
{
	struct nc_reorder q;
	u32 isn = 0xffffff00u;
	struct nc_ro_frag f[3] = { fr(isn, 0x80), fr(isn + 0x80, 0x100),
				   fr(isn + 0x180, 0x40) };
	struct nc_ro_frag d = fr(isn + 0x80, 0x100);

	nc_ro_init(&q, isn, isn + 0x1000);	/* limit wraps to 0xf00 */
	CHECK_EQ(q.lim, 0xf00);
	CHECK_EQ(nc_ro_insert(&q, &f[2]), NC_RO_QUEUED);	/* at 0x80 */
	CHECK_EQ(nc_ro_insert(&q, &f[1]), NC_RO_QUEUED);	/* crosses 0 */
	CHECK_EQ(nc_ro_insert(&q, &d), NC_RO_DUP);
	CHECK(nc_ro_pop(&q) == NULL);
	CHECK_EQ(nc_ro_insert(&q, &f[0]), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &f[0]);
	CHECK(nc_ro_pop(&q) == &f[1]);
	CHECK(nc_ro_pop(&q) == &f[2]);
	CHECK_EQ(q.nxt, 0xc0);
	/* the delivered frame before the wrap is still a duplicate */
	d = fr(isn, 0x80);
	CHECK_EQ(nc_ro_insert(&q, &d), NC_RO_DUP);
	d = fr(0xf00 - 1, 2);			/* beyond the wrapped limit */
	CHECK_EQ(nc_ro_insert(&q, &d), -ENOBUFS);
	CHECK_EQ(nc_ro_set_fin(&q, 0xe00), 0);
	CHECK_EQ(nc_ro_set_fin(&q, 0xe01), -EPROTO);
}

NC_TEST(ro_final_offset)
{
	struct nc_reorder q;
	struct nc_ro_frag a = fr(0, 50), b = fr(50, 50), c = fr(100, 1);

	nc_ro_init(&q, 0, 1000);
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);
	/* CLOSE overtook the data on another channel */
	CHECK_EQ(nc_ro_set_fin(&q, 99), -EPROTO);	/* behind a frame */
	CHECK_EQ(nc_ro_set_fin(&q, 1001), -EPROTO);	/* beyond the limit */
	CHECK(!q.fin_set);
	CHECK_EQ(nc_ro_set_fin(&q, 100), 0);
	CHECK_EQ(nc_ro_set_fin(&q, 100), 0);		/* repeated: fine */
	CHECK_EQ(nc_ro_set_fin(&q, 101), -EPROTO);	/* changed: not */
	CHECK_EQ(nc_ro_insert(&q, &c), -EPROTO);	/* data after FIN */
	CHECK(!nc_ro_fin_reached(&q));
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &a);
	CHECK(!nc_ro_fin_reached(&q));
	CHECK(nc_ro_pop(&q) == &b);
	CHECK(nc_ro_fin_reached(&q));
	/* a final offset behind what was delivered */
	nc_ro_init(&q, 0, 1000);
	a = fr(0, 50);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &a);
	CHECK_EQ(nc_ro_set_fin(&q, 49), -EPROTO);
	CHECK_EQ(nc_ro_set_fin(&q, 50), 0);
	CHECK(nc_ro_fin_reached(&q));
	/* an empty stream */
	nc_ro_init(&q, 7, 1000);
	CHECK_EQ(nc_ro_set_fin(&q, 7), 0);
	CHECK(nc_ro_fin_reached(&q));
}

static void count_release(struct nc_ro_frag *f, void *arg)
{
	*(u32 *)arg += f->len;
}

NC_TEST(ro_purge)
{
	struct nc_reorder q;
	struct nc_ro_frag f[5];
	u32 released = 0;
	int i;

	nc_ro_init(&q, 0, 100000);
	for (i = 0; i < 5; i++) {
		f[i] = fr(1000 * (u32)(i + 1), 10 + (u32)i);
		CHECK_EQ(nc_ro_insert(&q, &f[i]), NC_RO_QUEUED);
	}
	nc_ro_purge(&q, count_release, &released);
	CHECK_EQ(released, 10 + 11 + 12 + 13 + 14);
	CHECK_EQ(q.bytes, 0);
	CHECK_EQ(q.count, 0);
	CHECK(RB_EMPTY_ROOT(&q.root));
}

/*
 * Retransmissions of frames that were merged into one buffer
 * (nc_ro_extend()): each is a duplicate, not an overlap.  The buffer
 * [10, 30) holds the frames [10, 14), [14, 30).  Before, a resend inside
 * it was -EPROTO and reset the connection.
 */
NC_TEST(ro_dup_inside_grown)
{
	/* the first frame, the one that continued it, and one inside */
	static const u32 rep[3][2] = { { 10, 4 }, { 14, 16 }, { 20, 5 } };
	struct nc_reorder q;
	struct nc_ro_frag a = fr(10, 4), b = fr(40, 5), x;
	int i;

	nc_ro_init(&q, 0, 1000);
	CHECK_EQ(nc_ro_insert(&q, &a), NC_RO_QUEUED);
	CHECK_EQ(nc_ro_insert(&q, &b), NC_RO_QUEUED);
	CHECK(!a.grown);
	CHECK_EQ(nc_ro_extend(&q, &a, 16), 0);
	CHECK(a.grown);
	CHECK(!b.grown);
	/* the first frame, the one that continued it, and one inside */
	CHECK(nc_ro_dup(&q, 10, 4));
	CHECK(nc_ro_dup(&q, 14, 16));
	CHECK(nc_ro_dup(&q, 20, 5));
	CHECK(nc_ro_dup(&q, 10, 20));
	for (i = 0; i < 3; i++) {
		x = fr(rep[i][0], rep[i][1]);
		CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_DUP);
	}
	CHECK_EQ(q.dups, 3);
	/* past its end, or from before it: still overlaps */
	CHECK(!nc_ro_dup(&q, 25, 10));
	x = fr(25, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	CHECK(!nc_ro_dup(&q, 8, 4));
	x = fr(8, 4);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* inside a frame that was never grown: the sender re-cut it */
	CHECK(!nc_ro_dup(&q, 41, 2));
	x = fr(41, 2);
	CHECK_EQ(nc_ro_insert(&q, &x), -EPROTO);
	/* an exact repeat of it is a duplicate */
	CHECK(nc_ro_dup(&q, 40, 5));
	/* new bytes are not */
	CHECK(!nc_ro_dup(&q, 30, 10));
	CHECK(!nc_ro_dup(&q, 0, 10));
	CHECK_EQ(q.bytes, 25);
	CHECK_EQ(q.count, 2);
	CHECK_EQ(q.dups, 3);		/* nc_ro_dup() counts nothing */
	CHECK(tree_ok(&q));
	/* delivered: behind nxt, a duplicate; a window behind, an error */
	x = fr(0, 10);
	CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_QUEUED);
	CHECK(nc_ro_pop(&q) == &x);
	CHECK(nc_ro_pop(&q) == &a);
	CHECK(nc_ro_dup(&q, 12, 3));
	CHECK(nc_ro_dup(&q, 0, 30));
	CHECK(!nc_ro_dup(&q, 28, 4));		/* straddles nxt */
	CHECK(!nc_ro_dup(&q, 30 - NC_WIN_MAX - 100, 50));
	CHECK(!nc_ro_dup(&q, 30, 0));
	CHECK(!nc_ro_dup(&q, 30, NC_MAX_PAYLOAD + 1));
	/* a frame queued anew is not grown, whatever the last one was */
	x = fr(30, 4);
	x.grown = true;
	CHECK_EQ(nc_ro_insert(&q, &x), NC_RO_QUEUED);
	CHECK(!x.grown);
}

/*
 * Model: a sender cuts a stream into frames and sends each over one of
 * several channels; channels deliver in their own order, some frames are
 * repeated (retransmission after a channel loss), the reader consumes at
 * random and grants credit.  The delivered bytes must be the stream,
 * exactly, and the queue must stay inside the granted limit.
 */
struct mfrag {
	struct nc_ro_frag f;
	u32 cap;	/* room in data[] */
	u8 data[];
};

#define M_SMALL	1024u	/* frames up to this merge, as NC_RX_SMALL */
#define M_PACK	4096u	/* a merged buffer's room, as NC_RX_PACK */

static u32 mrs = 0x2545f491u;

static u32 mrnd(void)
{
	return nc_test_xorshift32(&mrs);
}

static u8 stream_byte(u32 off)
{
	return (u8)(off * 2654435761u >> 24);
}

static void free_frag(struct nc_ro_frag *f, void *arg)
{
	(void)arg;
	free(container_of(f, struct mfrag, f));
}

/*
 * Offer a frame as nc_rx_data() does with merge: a duplicate first, then a
 * small frame into the buffer it continues, else a buffer of its own.
 * The result as nc_ro_insert()'s; *grew counts frames merged.
 */
static int model_offer(struct nc_reorder *q, struct mfrag *m, int merge,
		       u32 *grew, u32 *inside)
{
	struct nc_ro_frag *prev;
	struct mfrag *t;
	int r;

	if (!merge)
		return nc_ro_insert(q, &m->f);
	if (nc_ro_dup(q, m->f.seq, m->f.len)) {
		/* a repeat inside what waits (not one already delivered) */
		if (nc_seq_lt(q->nxt, m->f.seq + m->f.len))
			(*inside)++;
		q->dups++;
		return NC_RO_DUP;
	}
	prev = m->f.len <= M_SMALL ? nc_ro_before(q, m->f.seq) : NULL;
	t = prev ? container_of(prev, struct mfrag, f) : NULL;
	if (t && t->cap - t->f.len >= m->f.len) {
		u32 at = t->f.len;

		r = nc_ro_extend(q, prev, m->f.len);
		if (r)
			return r;
		memcpy(t->data + at, m->data, m->f.len);
		(*grew)++;
		return NC_RO_DUP;	/* taken into t: the caller frees m */
	}
	return nc_ro_insert(q, &m->f);
}

static int model_run(u32 isn, u32 win, u32 total, int nchan, int merge)
{
	struct { u32 seq, len; } pend[8][256];
	int npend[8] = { 0 };
	struct nc_reorder q;
	u32 snd = isn, delivered = 0, consumed = 0, bad = 0, ooo = 0, k;
	u32 grew = 0, inside = 0;
	int c, i, r;

	nc_ro_init(&q, isn, isn + win);
	while (delivered < total) {
		/* send: cut a frame within the granted limit */
		c = (int)(mrnd() % (u32)nchan);
		if (snd - isn < total && npend[c] < 256 &&
		    nc_seq_lt(snd, q.lim)) {
			u32 room = q.lim - snd, left = total - (snd - isn);
			/* with merge, mostly small frames */
			u32 len = merge && mrnd() % 4 ? 1 + mrnd() % 64 : 1 + mrnd() % 3000;

			len = len < room ? len : room;
			len = len < left ? len : left;
			pend[c][npend[c]].seq = snd;
			pend[c][npend[c]].len = len;
			npend[c]++;
			/* sometimes the same frame goes again on a sibling */
			if (!(mrnd() % 7)) {
				int c2 = (c + 1) % nchan;

				if (npend[c2] < 256) {
					pend[c2][npend[c2]].seq = snd;
					pend[c2][npend[c2]].len = len;
					npend[c2]++;
				}
			}
			snd += len;
		}
		/* a channel delivers its oldest frame */
		c = (int)(mrnd() % (u32)nchan);
		if (npend[c]) {
			u32 cap = pend[c][0].len <= M_SMALL ? M_PACK : pend[c][0].len;
			struct mfrag *m = malloc(sizeof(*m) + cap);

			if (!m)
				return -100;
			m->cap = cap;
			m->f.seq = pend[c][0].seq;
			m->f.len = pend[c][0].len;
			for (k = 0; k < m->f.len; k++)
				m->data[k] = stream_byte(m->f.seq - isn + k);
			memmove(&pend[c][0], &pend[c][1],
				sizeof(pend[c][0]) * (size_t)--npend[c]);
			r = model_offer(&q, m, merge, &grew, &inside);
			if (r == NC_RO_QUEUED && m->f.seq != q.nxt)
				ooo++;
			if (r == NC_RO_DUP)
				free(m);
			else if (r != NC_RO_QUEUED)
				return r;
		}
		/* deliver in order, check bytes */
		for (;;) {
			struct nc_ro_frag *f = nc_ro_pop(&q);
			struct mfrag *m;

			if (!f)
				break;
			m = container_of(f, struct mfrag, f);
			if (f->seq != isn + delivered)
				bad++;
			for (k = 0; k < f->len; k++)
				if (m->data[k] != stream_byte(delivered + k))
					bad++;
			delivered += f->len;
			free(m);
		}
		if (q.bytes > q.lim - q.nxt || !tree_ok(&q))
			bad++;
		/* the reader consumes some and grants credit */
		if (mrnd() % 2 && consumed < delivered) {
			consumed += 1 + mrnd() % (delivered - consumed);
			if (nc_ro_set_limit(&q, isn + consumed + win))
				bad++;
		}
		for (i = 0; i < nchan; i++)
			if (npend[i] > 250)
				bad++;
	}
	if (nc_ro_set_fin(&q, isn + total) || !nc_ro_fin_reached(&q))
		bad++;
	/* the run must have seen what it is meant to test */
	if (!q.dups || (nchan > 1 && !ooo))
		bad++;
	/* with 3 or more channels some repeats land inside merged buffers */
	if (merge && nchan > 1 && (!grew || (nchan > 2 && !inside)))
		bad++;
	nc_ro_purge(&q, free_frag, NULL);
	return bad ? -1 : (int)q.count;
}

NC_TEST(ro_model_random)
{
	static const u32 isns[] = { 0, 0x7ffff000u, 0xfffff000u,
				    0xffffffffu };
	int i, ch;

	for (i = 0; i < 4; i++)
		for (ch = 1; ch <= 4; ch++)
			CHECK_EQ(model_run(isns[i], 16384 + 4096 * (u32)ch,
					   300000, ch, 0), 0);
}

/*
 * The model with small frames merged into waiting buffers, as the module
 * does: repeats that land inside a merged buffer are duplicates.  Before
 * nc_ro_dup() and the grown mark they were overlaps (-EPROTO).
 */
NC_TEST(ro_model_merged_resends)
{
	static const u32 isns[] = { 0, 0xfffff000u };
	int i, ch;

	for (i = 0; i < 2; i++)
		for (ch = 1; ch <= 4; ch++)
			CHECK_EQ(model_run(isns[i], 16384 + 4096 * (u32)ch,
					   200000, ch, 1), 0);
}

static const struct nc_test_case cases[] = {
	NC_CASE(ro_in_order),
	NC_CASE(ro_out_of_order),
	NC_CASE(ro_duplicates_and_overlaps),
	NC_CASE(ro_budget_is_the_credit_limit),
	NC_CASE(ro_wraparound),
	NC_CASE(ro_final_offset),
	NC_CASE(ro_purge),
	NC_CASE(ro_model_random),
	NC_CASE(ro_extend),
	NC_CASE(ro_dup_inside_grown),
	NC_CASE(ro_model_merged_resends),
};

void suite_reorder(void)
{
	nc_run_suite("reorder", cases, sizeof(cases) / sizeof(cases[0]));
}
