// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for nc_stripe.c: the channel scheduler and the retransmit
 * list, and a model of a striped connection that loses channels
 * (nc_stripe + nc_reorder together).
 */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_stripe.h"
#include "../../netchannel/nc_reorder.h"
#include "../../netchannel/nc_wire.h"
#include "../../netchannel/nc_credit.h"

/* ---- scheduler ---- */

/*
 * Connections from many client ports to one server port spread over the
 * channels of a class: the client side picks by (its port, server port),
 * and with h % n the pick depended on the server port alone (every
 * connection to one server on one channel).
 */
NC_TEST(stripe_home_spreads_client_ports)
{
	static const u16 servers[] = { 5201, 6379, 9000, 80 };
	unsigned int n, k, i, hits[4];

	for (n = 2; n <= 4; n++) {
		for (k = 0; k < sizeof(servers) / sizeof(servers[0]); k++) {
			memset(hits, 0, sizeof(hits));
			for (i = 0; i < 64; i++)
				hits[nc_stripe_home(40000 + i, servers[k], n)]++;
			for (i = 0; i < n; i++)
				CHECK(hits[i] >= 64 / n / 2);
		}
	}
	/* the server side's view: one local port, many remote ports */
	memset(hits, 0, sizeof(hits));
	for (i = 0; i < 64; i++)
		hits[nc_stripe_home(5201, 32768 + 7 * i, 2)]++;
	CHECK(hits[0] >= 16 && hits[1] >= 16);
}

NC_TEST(stripe_home_in_range)
{
	u32 s = 12345, i;

	for (i = 0; i < 100000; i++) {
		u32 r = nc_test_xorshift32(&s);
		unsigned int n = 1 + r % 16;

		CHECK(nc_stripe_home(r >> 16, r & 0xffff, n) < n);
	}
	CHECK_EQ(nc_stripe_home(65535, 65535, 1), 0);
	CHECK_EQ(nc_stripe_home(1, 2, 0), 0);
	/* the same ports always give the same channel */
	CHECK_EQ(nc_stripe_home(40001, 5201, 3), nc_stripe_home(40001, 5201, 3));
}

NC_TEST(stripe_no_channel)
{
	struct nc_stripe_load ld[3] = { { 0 } };
	struct nc_stripe st;

	nc_stripe_init(&st, 1);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), -ENOLINK);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 5), -ENOLINK);
	CHECK_EQ(nc_stripe_pick(&st, ld, 0, 5), -ENOLINK);
	CHECK_EQ(nc_stripe_least_loaded(ld, 3, 0), -ENOLINK);
	CHECK_EQ(st.cur, 1);
}

NC_TEST(stripe_sticks_with_one_frame)
{
	struct nc_stripe_load ld[3] = {
		{ .queued = 0, .up = true },
		{ .queued = 900000, .notsent = 100000, .up = true },
		{ .queued = 5, .up = true },
	};
	struct nc_stripe st;
	int i;

	nc_stripe_init(&st, 1);
	/* one frame queued: stay on the home channel however loaded */
	for (i = 0; i < 10; i++)
		CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), 1);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 0), 1);
	CHECK_EQ(st.switches, 0);
	/* more than one: join the least loaded */
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 2), 0);
	CHECK_EQ(st.switches, 1);
	/* and then stick there while only one is queued */
	ld[0].queued = 1u << 30;
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), 0);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 2), 2);
	CHECK_EQ(st.switches, 2);
	/* the current channel goes down: move even with one frame */
	ld[2].up = false;
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), 1);
	CHECK_EQ(st.switches, 3);
	/* no home yet: the least loaded, not counted as a switch */
	nc_stripe_init(&st, NC_CHAN_NONE);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), 1);
	CHECK_EQ(st.switches, 0);
	/* a home beyond the class size is ignored */
	nc_stripe_init(&st, 7);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 1), 1);
}

NC_TEST(stripe_counts_tcp_notsent)
{
	struct nc_stripe_load ld[3] = {
		{ .queued = 1000, .notsent = 500000, .up = true },
		{ .queued = 200000, .notsent = 0, .up = true },
		{ .queued = 0, .notsent = 300000, .up = true },
	};
	struct nc_stripe st;

	nc_stripe_init(&st, 0);
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 4), 1);
	/* ties prefer the current channel, else the lowest index */
	ld[0].notsent = 0;
	ld[0].queued = 200000;
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 4), 1);
	nc_stripe_init(&st, 2);
	ld[2].notsent = 200000;
	CHECK_EQ(nc_stripe_pick(&st, ld, 3, 4), 2);
	CHECK_EQ(nc_stripe_least_loaded(ld, 3, NC_CHAN_NONE), 0);
	/* absurd counters saturate instead of wrapping to "idle" */
	ld[0].queued = U64_MAX;
	ld[0].notsent = 10;
	ld[1].queued = U64_MAX - 1;
	ld[2].queued = U64_MAX;
	ld[2].notsent = U64_MAX;
	CHECK_EQ(nc_stripe_least_loaded(ld, 3, NC_CHAN_NONE), 1);
}

/*
 * With a margin a connection leaves a channel that is up only for one
 * with at least that much less load, so small frames do not hop between
 * two channels that are about as busy; a channel that goes down is left
 * at once, and a backlog still spreads (shares follow the drain rates).
 */
NC_TEST(stripe_margin)
{
	struct nc_stripe_load ld[2] = {
		{ .queued = 70000, .up = true },
		{ .queued = 10000, .up = true },
	};
	static const u64 rate[2] = { 100000, 50000 };
	u64 sent[2] = { 0 };
	struct nc_stripe st;
	int step, k, c, i;

	nc_stripe_init(&st, 0);
	CHECK_EQ(st.margin, 0);
	st.margin = 65536;
	/* 60000 lighter is not enough */
	CHECK_EQ(nc_stripe_pick(&st, ld, 2, 4), 0);
	/* a current load below the margin: stay */
	ld[0].queued = 30000;
	ld[1].queued = 0;
	CHECK_EQ(nc_stripe_pick(&st, ld, 2, 4), 0);
	/* exactly the margin lighter: move */
	ld[0].queued = 65536 + 5;
	ld[1].notsent = 5;
	CHECK_EQ(nc_stripe_pick(&st, ld, 2, 4), 1);
	CHECK_EQ(st.switches, 1);
	/* the current channel down: move at once, margin or not */
	ld[0].queued = 0;
	ld[1].up = false;
	CHECK_EQ(nc_stripe_pick(&st, ld, 2, 1), 0);
	CHECK_EQ(st.switches, 2);
	ld[1].up = true;
	ld[1].notsent = 0;

	/* a backlog: 3 frames of 64 KiB per step against 150000 drained */
	ld[0].queued = ld[1].queued = 0;
	for (step = 0; step < 10000; step++) {
		for (k = 0; k < 3; k++) {
			c = nc_stripe_pick(&st, ld, 2, 4);
			if (c < 0 || c > 1) {
				CHECK(0);
				return;
			}
			ld[c].queued += 65536;
			sent[c] += 65536;
		}
		for (i = 0; i < 2; i++)
			ld[i].queued -= ld[i].queued < rate[i] ? ld[i].queued : rate[i];
	}
	/* the fast channel about twice the slow one */
	CHECK(sent[0] > sent[1] * 3 / 2 && sent[0] < sent[1] * 5 / 2);
}

/*
 * Channels drain at different rates; a sender with a backlog queues five
 * 64 KiB frames per step, a little more than all channels drain.  Shares follow the drain rates; a ping-pong sender (one frame at
 * a time) never leaves its channel.
 */
NC_TEST(stripe_spreads_by_load)
{
	static const u64 rate[4] = { 100000, 100000, 100000, 25000 };
	struct nc_stripe_load ld[4] = { { 0 } };
	u64 sent[4] = { 0 };
	struct nc_stripe st;
	int i, k, step, c;

	for (i = 0; i < 4; i++)
		ld[i].up = true;
	nc_stripe_init(&st, 0);
	for (step = 0; step < 20000; step++) {
		for (k = 0; k < 5; k++) {
			c = nc_stripe_pick(&st, ld, 4, 8);
			if (c < 0 || c >= 4) {
				CHECK(0);
				return;
			}
			ld[c].queued += 65536;
			sent[c] += 65536;
		}
		for (i = 0; i < 4; i++) {
			u64 d = ld[i].queued < rate[i] ? ld[i].queued : rate[i];

			ld[i].queued -= d;
		}
	}
	/* equal channels within 5% of each other, the slow one about 1/4 */
	CHECK(sent[0] * 100 > sent[1] * 95 && sent[1] * 100 > sent[0] * 95);
	CHECK(sent[2] * 100 > sent[1] * 95 && sent[1] * 100 > sent[2] * 95);
	CHECK(sent[3] * 3 < sent[0] && sent[3] * 5 > sent[0]);
	CHECK(st.switches > 1000);

	memset(sent, 0, sizeof(sent));
	nc_stripe_init(&st, 2);
	for (step = 0; step < 1000; step++) {
		c = nc_stripe_pick(&st, ld, 4, 1);
		CHECK_EQ(c, 2);
		ld[2].queued += 100;
	}
	CHECK_EQ(st.switches, 0);
}

/* ---- retransmit list ---- */

struct tframe {
	struct nc_rtx_frame f;
	int released;
	int resent;
};

static void rel(struct nc_rtx_frame *f, void *arg)
{
	container_of(f, struct tframe, f)->released++;
	(*(int *)arg)++;
}

static void rsnd(struct nc_rtx_frame *f, void *arg)
{
	container_of(f, struct tframe, f)->resent++;
	(*(int *)arg)++;
}

static void mkframes(struct nc_rtx *r, struct tframe *t, int n, u32 isn,
		     const int *chans)
{
	u32 seq = isn;
	int i;

	memset(t, 0, sizeof(*t) * (size_t)n);
	for (i = 0; i < n; i++) {
		t[i].f.seq = seq;
		t[i].f.len = 100 + (u32)i;
		CHECK_EQ(nc_rtx_sent(r, &t[i].f, chans[i]), 0);
		seq += t[i].f.len;
	}
}

NC_TEST(rtx_sent_and_ack)
{
	static const int chans[5] = { 0, 1, 2, 0, 1 };
	struct tframe t[5], x = { 0 };
	struct nc_rtx r;
	int n = 0;

	nc_rtx_init(&r, 1000);
	mkframes(&r, t, 5, 1000, chans);
	CHECK_EQ(r.count, 5);
	CHECK_EQ(r.bytes, 100 + 101 + 102 + 103 + 104);
	CHECK_EQ(r.nxt, 1000 + r.bytes);
	/* only the next offset, sane lengths */
	x.f.seq = r.nxt + 1;
	x.f.len = 10;
	CHECK_EQ(nc_rtx_sent(&r, &x.f, 0), -EINVAL);
	x.f.seq = r.nxt;
	x.f.len = 0;
	CHECK_EQ(nc_rtx_sent(&r, &x.f, 0), -EINVAL);
	x.f.len = NC_MAX_PAYLOAD + 1;
	CHECK_EQ(nc_rtx_sent(&r, &x.f, 0), -EINVAL);
	CHECK_EQ(r.count, 5);
	/* an ACK inside a frame, beyond nxt, or far behind: refused */
	CHECK_EQ(nc_rtx_ack(&r, 1050, rel, &n), -EPROTO);
	CHECK_EQ(nc_rtx_ack(&r, 1100 + 101 + 1, rel, &n), -EPROTO);
	CHECK_EQ(nc_rtx_ack(&r, r.nxt + 1, rel, &n), -EPROTO);
	CHECK_EQ(nc_rtx_ack(&r, 1000 - NC_WIN_MAX - 1, rel, &n), -EPROTO);
	CHECK_EQ(nc_rtx_ack(&r, 1000 + 0x80000000u, rel, &n), -EPROTO);
	CHECK_EQ(n, 0);
	CHECK_EQ(r.count, 5);
	/* the same ACK twice, an older one later: nothing happens */
	CHECK_EQ(nc_rtx_ack(&r, 1000, rel, &n), 0);
	CHECK_EQ(nc_rtx_ack(&r, 1100 + 101, rel, &n), 2);
	CHECK(t[0].released == 1 && t[1].released == 1 && !t[2].released);
	CHECK_EQ(nc_rtx_ack(&r, 1100, rel, &n), 0);
	CHECK_EQ(nc_rtx_ack(&r, 1100 + 101, rel, &n), 0);
	CHECK_EQ(r.una, 1201);
	CHECK_EQ(r.count, 3);
	CHECK_EQ(r.bytes, 102 + 103 + 104);
	CHECK_EQ(nc_rtx_ack(&r, r.nxt, rel, &n), 3);
	CHECK_EQ(n, 5);
	CHECK_EQ(r.count, 0);
	CHECK_EQ(r.bytes, 0);
	CHECK(list_empty(&r.frames));
}

NC_TEST(rtx_wraparound)
{
	static const int chans[4] = { 0, 1, 0, 1 };
	struct tframe t[4];
	struct nc_rtx r;
	int n = 0;
	u32 isn = 0xffffff00u;

	nc_rtx_init(&r, isn);
	mkframes(&r, t, 4, isn, chans);		/* crosses 2^32 in t[2] */
	CHECK_EQ(r.nxt, isn + 100 + 101 + 102 + 103);
	CHECK_EQ(nc_rtx_ack(&r, isn + 100 + 101 + 102, rel, &n), 3);
	CHECK_EQ(r.una, 0x2fu);
	CHECK_EQ(nc_rtx_ack(&r, isn + 100, rel, &n), 0);	/* stale */
	CHECK_EQ(nc_rtx_ack(&r, r.nxt, rel, &n), 1);
	CHECK_EQ(n, 4);
}

NC_TEST(rtx_channel_loss)
{
	static const int chans[6] = { 0, 1, 2, 1, 0, 1 };
	struct nc_stripe_load ld[3] = {
		{ .queued = 5000, .up = true },
		{ .queued = 0, .up = true },
		{ .queued = 1000, .up = true },
	};
	struct tframe t[6];
	struct nc_rtx r;
	int n = 0, rel_n = 0, i;

	nc_rtx_init(&r, 0);
	mkframes(&r, t, 6, 0, chans);
	/* channel 1 drops: frames 1, 3, 5 move, in order, to the siblings */
	CHECK_EQ(nc_rtx_chan_lost(&r, 1, ld, 3, rsnd, &n), 3);
	CHECK_EQ(n, 3);
	CHECK(!ld[1].up);
	for (i = 0; i < 6; i++) {
		CHECK_EQ(t[i].resent, i % 2);
		CHECK(t[i].f.chan != 1);
		CHECK_EQ(t[i].f.sends, 1 + i % 2);
	}
	/* least loaded first (2, then 2 again while below 5000) */
	CHECK_EQ(t[1].f.chan, 2);
	CHECK_EQ(t[3].f.chan, 2);
	CHECK_EQ(t[5].f.chan, 2);
	CHECK_EQ(ld[2].queued, 1000 + 101 + 103 + 105);
	CHECK_EQ(ld[0].queued, 5000);
	CHECK_EQ(r.resent, 3);
	CHECK_EQ(r.orphans, 0);
	/* every channel gone: frames wait as orphans */
	CHECK_EQ(nc_rtx_chan_lost(&r, 0, ld, 3, rsnd, &n), 2);
	CHECK_EQ(nc_rtx_chan_lost(&r, 2, ld, 3, rsnd, &n), -ENOLINK);
	CHECK_EQ(r.orphans, 6);
	CHECK_EQ(n, 3 + 2);			/* 0's frames went to 2 first */
	/* an ACK releases orphans too */
	CHECK_EQ(nc_rtx_ack(&r, 100 + 101, rel, &rel_n), 2);
	CHECK_EQ(r.orphans, 4);
	/* a channel comes back: the orphans go there */
	ld[1].up = true;
	n = 0;
	CHECK_EQ(nc_rtx_requeue(&r, ld, 3, rsnd, &n), 4);
	CHECK_EQ(n, 4);
	CHECK_EQ(r.orphans, 0);
	for (i = 2; i < 6; i++)
		CHECK_EQ(t[i].f.chan, 1);
	CHECK_EQ(nc_rtx_requeue(&r, ld, 3, rsnd, &n), 0);
	CHECK_EQ(nc_rtx_chan_lost(&r, -1, ld, 3, rsnd, &n), -EINVAL);
	nc_rtx_purge(&r, rel, &rel_n);
	CHECK_EQ(rel_n, 6);
	for (i = 0; i < 6; i++)
		CHECK_EQ(t[i].released, 1);
	CHECK_EQ(r.count, 0);
	CHECK(list_empty(&r.frames));
}

/*
 * A channel that comes back keeps its index with a new generation: the
 * frames its old incarnation carried are lost with it and go again, in
 * offset order; frames the new incarnation took, and those on channels
 * that stayed, stay.  Before generations, a frame on index 1 looked
 * alive once index 1 was up again.
 */
NC_TEST(rtx_revalidate_generations)
{
	static const int chans[6] = { 1, 0, 1, 2, 1, 0 };
	struct nc_stripe_load now[3] = {
		{ .gen = 3, .up = true },
		{ .gen = 5, .up = true },
		{ .gen = 8, .up = true },
	};
	struct nc_stripe_load pick[3];
	struct tframe t[6];
	struct nc_rtx r;
	int n = 0, i;

	nc_rtx_init(&r, 0);
	mkframes(&r, t, 6, 0, chans);
	for (i = 0; i < 6; i++)
		t[i].f.gen = now[chans[i]].gen;
	/* nothing changed: nothing to send again */
	CHECK_EQ(nc_rtx_revalidate(&r, now, 3), 0);
	CHECK_EQ(r.orphans, 0);
	/* channel 1 went down and came back (gen 7); t[4] went on the new one */
	now[1].gen = 7;
	t[4].f.gen = 7;
	CHECK_EQ(nc_rtx_revalidate(&r, now, 3), 2);
	CHECK_EQ(t[0].f.chan, NC_CHAN_NONE);
	CHECK_EQ(t[2].f.chan, NC_CHAN_NONE);
	CHECK_EQ(t[4].f.chan, 1);
	CHECK_EQ(t[1].f.chan, 0);
	CHECK_EQ(t[3].f.chan, 2);
	/* a second look orphans nothing twice */
	CHECK_EQ(nc_rtx_revalidate(&r, now, 3), 2);
	/* resent on the only channel the caller allows, with its generation */
	memset(pick, 0, sizeof(pick));
	pick[2] = now[2];
	CHECK_EQ(nc_rtx_requeue(&r, pick, 3, rsnd, &n), 2);
	CHECK_EQ(n, 2);
	CHECK_EQ(t[0].f.chan, 2);
	CHECK_EQ(t[0].f.gen, 8);
	CHECK_EQ(t[2].f.chan, 2);
	CHECK_EQ(t[0].resent, 1);
	CHECK_EQ(t[2].resent, 1);
	CHECK_EQ(t[4].resent, 0);
	CHECK_EQ(pick[2].queued, 100 + 102);
	CHECK_EQ(r.orphans, 0);
	CHECK_EQ(r.resent, 2);
	/* a channel down, or an index beyond the table, orphans its frames */
	now[0].up = false;
	CHECK_EQ(nc_rtx_revalidate(&r, now, 3), 2);
	CHECK_EQ(t[1].f.chan, NC_CHAN_NONE);
	CHECK_EQ(t[5].f.chan, NC_CHAN_NONE);
	CHECK_EQ(nc_rtx_revalidate(&r, now, 2), 2 + 3);	/* t[0], t[2], t[3] on 2 */
	CHECK_EQ(r.orphans, 5);
	CHECK_EQ(t[4].f.chan, 1);
}

/* ---- a striped connection over lossy channels (model) ---- */

#define MCH 3
#define MQ 4096

struct mframe {
	struct nc_rtx_frame f;
};

struct rframe {
	struct nc_ro_frag f;
	u8 data[];
};

/* what a channel carries: its own copy of the frame, as TCP would */
struct mchan {
	struct { u32 seq, len; } q[MQ];
	u32 head, tail;
};

struct model {
	struct mchan ch[MCH];
	struct nc_stripe_load ld[MCH];
	u32 isn;
	int bad;
	long sent_frames, released;
};

static u32 srs = 0x1234567u;

static u32 srnd(void)
{
	return nc_test_xorshift32(&srs);
}

static u8 sbyte(u32 off)
{
	return (u8)(off * 2246822519u >> 21);
}

static void mpush(struct model *m, int c, const struct nc_rtx_frame *f)
{
	struct mchan *ch = &m->ch[c];

	if (ch->tail - ch->head >= MQ) {
		m->bad++;
		return;
	}
	ch->q[ch->tail % MQ].seq = f->seq;
	ch->q[ch->tail % MQ].len = f->len;
	ch->tail++;
}

static void m_resend(struct nc_rtx_frame *f, void *arg)
{
	struct model *m = arg;

	mpush(m, f->chan, f);
}

static void m_release(struct nc_rtx_frame *f, void *arg)
{
	struct model *m = arg;

	m->released++;
	free(container_of(f, struct mframe, f));
}

static void r_release(struct nc_ro_frag *f, void *arg)
{
	(void)arg;
	free(container_of(f, struct rframe, f));
}

static int model_lossy(u32 isn, u32 total, u32 win)
{
	static struct model m;
	struct nc_stripe st;
	struct nc_reorder q;
	struct nc_rtx r;
	u32 snd = isn, delivered = 0, acks[8] = { 0 }, k;
	int c, i, down_for[MCH] = { 0 }, losses = 0, step;

	memset(&m, 0, sizeof(m));
	for (i = 0; i < MCH; i++)
		m.ld[i].up = true;
	nc_stripe_init(&st, 0);
	nc_rtx_init(&r, isn);
	nc_ro_init(&q, isn, isn + win);
	for (i = 0; i < 8; i++)
		acks[i] = isn;
	for (step = 0; delivered < total && step < 10000000; step++) {
		/* send within credit */
		if (snd - isn < total && nc_seq_lt(snd, q.lim)) {
			u32 len = 1 + srnd() % 3000;
			struct mframe *f;

			len = len < q.lim - snd ? len : q.lim - snd;
			len = len < total - (snd - isn) ? len :
			      total - (snd - isn);
			c = nc_stripe_pick(&st, m.ld, MCH, 1 + srnd() % 4);
			if (c >= 0) {
				f = calloc(1, sizeof(*f));
				if (!f)
					return -100;
				f->f.seq = snd;
				f->f.len = len;
				if (nc_rtx_sent(&r, &f->f, c))
					m.bad++;
				m.ld[c].queued += len;
				mpush(&m, c, &f->f);
				m.sent_frames++;
				snd += len;
			}
		}
		/* a channel delivers one frame (a copy of it) */
		c = (int)(srnd() % MCH);
		if (m.ld[c].up && m.ch[c].head != m.ch[c].tail) {
			u32 seq = m.ch[c].q[m.ch[c].head % MQ].seq;
			u32 len = m.ch[c].q[m.ch[c].head % MQ].len;
			struct rframe *rf;
			int res;

			m.ch[c].head++;
			m.ld[c].queued -= len;
			rf = malloc(sizeof(*rf) + len);
			if (!rf)
				return -100;
			rf->f.seq = seq;
			rf->f.len = len;
			for (k = 0; k < len; k++)
				rf->data[k] = sbyte(seq - isn + k);
			res = nc_ro_insert(&q, &rf->f);
			if (res == NC_RO_DUP)
				free(rf);
			else if (res != NC_RO_QUEUED)
				return res;
		}
		for (;;) {
			struct nc_ro_frag *f = nc_ro_pop(&q);
			struct rframe *rf;

			if (!f)
				break;
			rf = container_of(f, struct rframe, f);
			for (k = 0; k < f->len; k++)
				if (rf->data[k] != sbyte(delivered + k))
					m.bad++;
			delivered += f->len;
			free(rf);
			/* the reader consumes at once and grants credit */
			if (nc_ro_set_limit(&q, isn + delivered + win))
				m.bad++;
		}
		/* ACKs come back late and out of order */
		acks[srnd() % 8] = q.nxt;
		if (nc_rtx_ack(&r, acks[srnd() % 8], m_release, &m) < 0)
			m.bad++;
		/* now and then a channel drops, with what was on it */
		if (!(srnd() % 200)) {
			c = (int)(srnd() % MCH);
			if (m.ld[c].up) {
				m.ch[c].head = m.ch[c].tail;
				m.ld[c].queued = 0;
				nc_rtx_chan_lost(&r, c, m.ld, MCH, m_resend, &m);
				down_for[c] = 20 + (int)(srnd() % 200);
				losses++;
			}
		}
		for (c = 0; c < MCH; c++) {
			if (down_for[c] && !--down_for[c]) {
				m.ld[c].up = true;
				nc_rtx_requeue(&r, m.ld, MCH, m_resend, &m);
			}
		}
		/* receiver inside its limit; sender never beyond it */
		if (q.bytes > q.lim - q.nxt || !nc_seq_le(r.nxt, q.lim))
			m.bad += 1000;
	}
	if (delivered != total)
		m.bad += 10000;
	if (nc_rtx_ack(&r, q.nxt, m_release, &m) < 0 || r.count)
		m.bad += 100000;
	if (m.released != m.sent_frames)
		m.bad += 1000000;
	/* the run must have lost channels and resent frames */
	if (!losses || !r.resent || !q.dups)
		m.bad += 10000000;
	if (getenv("NC_TEST_VERBOSE"))
		printf("  model isn %#x: %d steps, %ld frames, %d channel losses, %llu resent, %llu duplicates dropped, %llu channel switches\n",
		       isn, step, m.sent_frames, losses,
		       (unsigned long long)r.resent,
		       (unsigned long long)q.dups,
		       (unsigned long long)st.switches);
	nc_ro_purge(&q, r_release, NULL);
	for (c = 0; c < MCH; c++)
		m.ch[c].head = m.ch[c].tail;
	return m.bad;
}

NC_TEST(stripe_model_channel_loss)
{
	CHECK_EQ(model_lossy(0, 4000000, 65536), 0);
	CHECK_EQ(model_lossy(0xffff0000u, 4000000, 262144), 0);
	CHECK_EQ(model_lossy(0x7fffff00u, 2000000, 16384), 0);
}

static const struct nc_test_case cases[] = {
	NC_CASE(stripe_home_spreads_client_ports),
	NC_CASE(stripe_home_in_range),
	NC_CASE(stripe_no_channel),
	NC_CASE(stripe_sticks_with_one_frame),
	NC_CASE(stripe_counts_tcp_notsent),
	NC_CASE(stripe_spreads_by_load),
	NC_CASE(stripe_margin),
	NC_CASE(rtx_sent_and_ack),
	NC_CASE(rtx_wraparound),
	NC_CASE(rtx_channel_loss),
	NC_CASE(rtx_revalidate_generations),
	NC_CASE(stripe_model_channel_loss),
};

void suite_stripe(void)
{
	nc_run_suite("stripe", cases, sizeof(cases) / sizeof(cases[0]));
}
