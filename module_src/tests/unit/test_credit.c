// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_credit.c: window accounting and wraparound. */
#include "nc_test.h"
#include "../../netchannel/nc_credit.h"

/* The whole window, memory permitting without limit; the new limit. */
static u32 grant_full(struct nc_rx_credit *c)
{
	nc_rxc_grant_within(c, NC_WIN_MAX);
	return c->lim;
}

NC_TEST(win_clamp)
{
	CHECK_EQ(nc_win_clamp(0), NC_WIN_MIN);
	CHECK_EQ(nc_win_clamp(NC_WIN_MIN - 1), NC_WIN_MIN);
	CHECK_EQ(nc_win_clamp(100000), 100000);
	CHECK_EQ(nc_win_clamp((u64)NC_WIN_MAX + 1), NC_WIN_MAX);
	CHECK_EQ(nc_win_clamp(~0ULL), NC_WIN_MAX);
}

NC_TEST(sndlim_auto)
{
	u32 win = 4u << 20;	/* default_window */

	/* follows the channel's TCP send buffer ... */
	CHECK_EQ(nc_sndlim_auto(1u << 20, win), 1u << 20);
	CHECK_EQ(nc_sndlim_auto(NC_SNDLIM_FLOOR + 1, win), NC_SNDLIM_FLOOR + 1);
	/* ... never below two full frames (no channel seen yet: 0) ... */
	CHECK_EQ(nc_sndlim_auto(0, win), NC_SNDLIM_FLOOR);
	CHECK_EQ(nc_sndlim_auto(16384, win), NC_SNDLIM_FLOOR);
	/* ... and never above default_window, even below the floor */
	CHECK_EQ(nc_sndlim_auto(6u << 20, win), win);
	CHECK_EQ(nc_sndlim_auto(1u << 20, 65536), 65536);
	CHECK_EQ(nc_sndlim_auto(0, 0), NC_WIN_MIN);
}

NC_TEST(tx_basic)
{
	struct nc_tx_credit c;

	nc_txc_init(&c, 0, 1000);
	CHECK_EQ(nc_txc_avail(&c), 1000);
	CHECK_EQ(nc_txc_consume(&c, 600), 0);
	CHECK_EQ(nc_txc_avail(&c), 400);
	CHECK_EQ(nc_txc_consume(&c, 401), -EINVAL);
	CHECK_EQ(nc_txc_avail(&c), 400);
	CHECK_EQ(nc_txc_consume(&c, 400), 0);
	CHECK_EQ(nc_txc_avail(&c), 0);
	CHECK_EQ(nc_txc_consume(&c, 1), -EINVAL);
	CHECK_EQ(nc_txc_consume(&c, 0), 0);
	CHECK_EQ(nc_txc_update(&c, 1000), 0);
	CHECK_EQ(nc_txc_update(&c, 3000), 1);
	CHECK_EQ(nc_txc_avail(&c), 2000);
	/* a stale grant (overtaken by a newer one) is ignored */
	CHECK_EQ(nc_txc_update(&c, 2999), 0);
	CHECK_EQ(nc_txc_avail(&c), 2000);
	CHECK_EQ(c.lim, 3000);
	/* more than a window behind is no grant of this connection */
	CHECK_EQ(nc_txc_update(&c, 3000 - NC_WIN_MAX - 1), -EPROTO);
	CHECK_EQ(nc_txc_update(&c, 3000 - NC_WIN_MAX), 0);
	CHECK_EQ(c.lim, 3000);
}

NC_TEST(tx_bad_initial_limit)
{
	struct nc_tx_credit c;

	nc_txc_init(&c, 100, 50);		/* behind: no credit */
	CHECK_EQ(nc_txc_avail(&c), 0);
	nc_txc_init(&c, 0, NC_WIN_MAX + 1);	/* too far: no credit */
	CHECK_EQ(nc_txc_avail(&c), 0);
	nc_txc_init(&c, 0, NC_WIN_MAX);
	CHECK_EQ(nc_txc_avail(&c), NC_WIN_MAX);
}

NC_TEST(tx_update_too_large)
{
	struct nc_tx_credit c;

	nc_txc_init(&c, 0, 10);
	CHECK_EQ(nc_txc_update(&c, NC_WIN_MAX + 1), -EPROTO);
	CHECK_EQ(nc_txc_update(&c, NC_WIN_MAX), 1);
	CHECK_EQ(nc_txc_avail(&c), NC_WIN_MAX);
}

NC_TEST(tx_wraparound)
{
	struct nc_tx_credit c;
	u32 sent = 0;

	nc_txc_init(&c, 0xfffff000u, 0xfffff000u + 0x2000);
	CHECK_EQ(nc_txc_avail(&c), 0x2000);
	CHECK_EQ(nc_txc_consume(&c, 0x1800), 0);	/* crosses 2^32 */
	CHECK_EQ(c.nxt, 0x800);
	CHECK_EQ(nc_txc_avail(&c), 0x800);
	/* new limit numerically smaller than old one but logically after */
	CHECK_EQ(nc_txc_update(&c, 0x5000), 1);
	CHECK_EQ(nc_txc_avail(&c), 0x4800);
	/* an old (pre-wrap) limit is stale: ignored, the limit stays */
	CHECK_EQ(nc_txc_update(&c, 0xfffff800u), 0);
	CHECK_EQ(nc_txc_avail(&c), 0x4800);
	/* stream many windows through the wrap point */
	nc_txc_init(&c, 0xffff0000u, 0xffff0000u + 4096);
	while (sent < 0x40000) {
		u32 n = nc_txc_avail(&c);

		CHECK_EQ(n, 4096);
		CHECK_EQ(nc_txc_consume(&c, n), 0);
		sent += n;
		CHECK_EQ(nc_txc_update(&c, c.nxt + 4096), 1);
	}
}

NC_TEST(rx_basic_and_grant)
{
	struct nc_rx_credit r;
	struct nc_tx_credit t;

	nc_rxc_init(&r, 0, 8192);
	nc_txc_init(&t, 0, r.lim);
	CHECK_EQ(r.win, 8192);
	CHECK_EQ(nc_rxc_room(&r), 8192);
	CHECK_EQ(nc_rxc_receive(&r, 8192), 0);
	CHECK_EQ(nc_txc_consume(&t, 8192), 0);
	CHECK_EQ(nc_rxc_room(&r), 0);
	CHECK_EQ(nc_rxc_receive(&r, 1), -EPROTO);
	CHECK_EQ(nc_rxc_buffered(&r), 8192);
	/* below a quarter window: no update needed */
	CHECK_EQ(nc_rxc_consume(&r, 2047), 0);
	CHECK_EQ(nc_rxc_consume(&r, 1), 1);
	CHECK_EQ(grant_full(&r), 8192 + 2048);
	CHECK_EQ(nc_txc_update(&t, r.lim), 1);
	CHECK_EQ(nc_txc_avail(&t), 2048);
	CHECK_EQ(nc_rxc_room(&r), 2048);
	CHECK_EQ(nc_rxc_consume(&r, 8192), -EINVAL);	/* only 6144 left */
	CHECK_EQ(nc_rxc_buffered(&r), 6144);
}

/* A grant never goes past the memory reserved for the connection. */
NC_TEST(rx_grant_within_reserved_memory)
{
	struct nc_rx_credit r;

	/* 64 KiB window, 16 KiB reserved: the peer gets 16 KiB */
	nc_rxc_init_within(&r, 100, 65536, 16384);
	CHECK_EQ(r.win, 65536);
	CHECK_EQ(nc_rxc_room(&r), 16384);
	CHECK_EQ(nc_rxc_want_room(&r), 65536);
	CHECK_EQ(nc_rxc_receive(&r, 16384), 0);
	CHECK_EQ(nc_rxc_receive(&r, 1), -EPROTO);
	/* nothing read, nothing more reserved: no grant */
	CHECK_EQ(nc_rxc_grant_within(&r, 0), 0);
	CHECK_EQ(nc_rxc_room(&r), 0);
	/* 4 KiB read; its memory covers 4 KiB more */
	CHECK_EQ(nc_rxc_consume(&r, 4096), 1);
	CHECK_EQ(nc_rxc_grant_within(&r, 4096), 1);
	CHECK_EQ(r.lim, 100 + 16384 + 4096);
	/* a smaller cover never takes a grant back */
	CHECK_EQ(nc_rxc_grant_within(&r, 1024), 0);
	CHECK_EQ(r.lim, 100 + 16384 + 4096);
	/* plenty of memory: a full window beyond what was read, no more */
	CHECK_EQ(nc_rxc_grant_within(&r, 1u << 30), 1);
	CHECK_EQ(r.lim, 100 + 4096 + 65536);
	CHECK_EQ(nc_rxc_want_room(&r), 65536 - 16384 + 4096);
	CHECK_EQ(nc_rxc_grant_within(&r, 1u << 30), 0);
}

NC_TEST(rx_grant_within_wraps)
{
	struct nc_rx_credit r;

	nc_rxc_init_within(&r, 0xfffff000u, 65536, 8192);
	CHECK_EQ(r.lim, 0x1000u);
	CHECK_EQ(nc_rxc_receive(&r, 8192), 0);
	CHECK_EQ(nc_rxc_consume(&r, 8192), 1);
	CHECK_EQ(nc_rxc_grant_within(&r, 8192), 1);
	CHECK_EQ(r.lim, 0x3000u);
	CHECK_EQ(nc_rxc_room(&r), 8192);
}

NC_TEST(rx_min_window)
{
	struct nc_rx_credit r;

	nc_rxc_init(&r, 0, 1);
	CHECK_EQ(r.win, NC_WIN_MIN);
	CHECK_EQ(nc_rxc_room(&r), NC_WIN_MIN);
}

NC_TEST(rx_wraparound)
{
	struct nc_rx_credit r;

	nc_rxc_init(&r, 0xffffff00u, 4096);
	CHECK_EQ(r.lim, 0xffffff00u + 4096);
	CHECK_EQ(nc_rxc_receive(&r, 4096), 0);
	CHECK_EQ(r.nxt, 0xf00);
	CHECK_EQ(nc_rxc_buffered(&r), 4096);
	CHECK_EQ(nc_rxc_consume(&r, 4096), 1);
	CHECK_EQ(nc_rxc_buffered(&r), 0);
	CHECK_EQ(grant_full(&r), 0xf00 + 4096);
	CHECK_EQ(nc_rxc_room(&r), 4096);
}

/*
 * End-to-end model: one sender, one receiver, the reader consumes in
 * random pieces, credits are applied in order.  The sender must never be
 * allowed past the receiver's buffer, and must never deadlock.
 */
NC_TEST(model_no_overrun_no_deadlock)
{
	struct nc_rx_credit r;
	struct nc_tx_credit t;
	u32 seed = 99, total = 0, steps;
	int pending_credit = 0;
	u32 credit_val = 0;

	nc_rxc_init(&r, 0xfff00000u, 10000);
	nc_txc_init(&t, 0xfff00000u, r.lim);
	for (steps = 0; steps < 200000 && total < 50000000; steps++) {
		u32 n;

		seed = seed * 1103515245u + 12345u;
		switch ((seed >> 16) % 3) {
		case 0:	/* send */
			n = nc_txc_avail(&t);
			if (n > 3000)
				n = 3000;
			if (!n)
				break;
			CHECK_EQ(nc_txc_consume(&t, n), 0);
			CHECK_EQ(nc_rxc_receive(&r, n), 0);
			total += n;
			break;
		case 1:	/* read */
			n = nc_rxc_buffered(&r);
			n = n ? 1 + (seed >> 8) % n : 0;
			if (n && nc_rxc_consume(&r, n) == 1) {
				credit_val = grant_full(&r);
				pending_credit = 1;
			}
			break;
		default: /* deliver credit */
			if (pending_credit)
				CHECK(nc_txc_update(&t, credit_val) >= 0);
			pending_credit = 0;
			break;
		}
		CHECK(nc_rxc_buffered(&r) <= r.win);
		/* deadlock check: if nothing can move, state is broken */
		if (!nc_txc_avail(&t) && !nc_rxc_buffered(&r) && !pending_credit)
			CHECK(0);
	}
	CHECK(total > 1000000);
}

/* Two connections sharing a channel: a stalled reader on one does not
 * reduce the credit of the other. */
NC_TEST(independent_connections)
{
	struct nc_rx_credit r1, r2;
	struct nc_tx_credit t1, t2;
	int i;

	nc_rxc_init(&r1, 0, 4096);
	nc_rxc_init(&r2, 0, 4096);
	nc_txc_init(&t1, 0, r1.lim);
	nc_txc_init(&t2, 0, r2.lim);
	CHECK_EQ(nc_txc_consume(&t1, 4096), 0);
	CHECK_EQ(nc_rxc_receive(&r1, 4096), 0);
	CHECK_EQ(nc_txc_avail(&t1), 0);	/* slow reader 1 never reads */
	for (i = 0; i < 1000; i++) {
		CHECK_EQ(nc_txc_avail(&t2), 4096);
		CHECK_EQ(nc_txc_consume(&t2, 4096), 0);
		CHECK_EQ(nc_rxc_receive(&r2, 4096), 0);
		CHECK_EQ(nc_rxc_consume(&r2, 4096), 1);
		CHECK_EQ(nc_txc_update(&t2, grant_full(&r2)), 1);
	}
	CHECK_EQ(nc_rxc_buffered(&r1), 4096);
}

/*
 * A CREDIT the receiver counted but could not send (nc_send() failed after
 * grant_full()).  Window 64 KiB: one 65280-byte frame (the largest the
 * module sends) crosses the grant threshold.  Without giving the grant
 * back, the next grant needs another quarter window past the lost one,
 * which the sender, still at the old limit, can never send: both wait for
 * good (the state the module kept before nc_rxc_ungrant()).  With it, the
 * next read offers the window again.
 */
static void lost_grant(struct nc_rx_credit *r, struct nc_tx_credit *t,
		       bool give_back)
{
	u32 prev, lost;

	nc_rxc_init(r, 0, 65536);
	nc_txc_init(t, 0, r->lim);
	CHECK_EQ(nc_txc_consume(t, 65280), 0);
	CHECK_EQ(nc_rxc_receive(r, 65280), 0);
	CHECK_EQ(nc_rxc_consume(r, 65280), 1);
	prev = r->lim;
	lost = grant_full(r);			/* never reaches the sender */
	CHECK_EQ(lost, 65280 + 65536);
	if (give_back)
		nc_rxc_ungrant(r, lost, prev);
	/* the sender sends what it still may; the reader reads all of it */
	CHECK_EQ(nc_txc_avail(t), 256);
	CHECK_EQ(nc_txc_consume(t, 256), 0);
	CHECK_EQ(nc_rxc_receive(r, 256), 0);
}

NC_TEST(lost_grant_is_offered_again)
{
	struct nc_rx_credit r;
	struct nc_tx_credit t;

	lost_grant(&r, &t, false);
	CHECK_EQ(nc_rxc_consume(&r, 256), 0);	/* no grant: a stall */
	CHECK_EQ(nc_txc_avail(&t), 0);
	CHECK_EQ(nc_rxc_buffered(&r), 0);

	lost_grant(&r, &t, true);
	CHECK_EQ(r.lim, 65536);
	CHECK_EQ(nc_rxc_consume(&r, 256), 1);
	CHECK_EQ(nc_txc_update(&t, grant_full(&r)), 1);
	CHECK_EQ(nc_txc_avail(&t), 65536);
}

/* A later grant replaced the lost one: giving the old one back is a no-op. */
NC_TEST(ungrant_after_later_grant)
{
	struct nc_rx_credit r;
	u32 prev, lost, later;

	nc_rxc_init(&r, 0, 4096);
	CHECK_EQ(nc_rxc_receive(&r, 4096), 0);
	CHECK_EQ(nc_rxc_consume(&r, 2048), 1);
	prev = r.lim;
	lost = grant_full(&r);
	CHECK_EQ(nc_rxc_consume(&r, 2048), 1);
	later = grant_full(&r);
	nc_rxc_ungrant(&r, lost, prev);
	CHECK_EQ(r.lim, later);
	nc_rxc_ungrant(&r, later, lost);
	CHECK_EQ(r.lim, lost);
}

/* Takes from b at now_ms until it refuses; how many it gave. */
static u32 bucket_drain(struct nc_bucket *b, u64 now_ms, u32 rate)
{
	u32 n = 0;

	while (nc_bucket_take(b, now_ms, rate) && n < 2 * NC_BUCKET_RATE_MAX)
		n++;
	return n;
}

NC_TEST(bucket_burst_then_rate)
{
	struct nc_bucket b = { 0 };

	/* a zeroed bucket is full: a burst of rate, then nothing */
	CHECK_EQ(bucket_drain(&b, 5000, 50), 50);
	CHECK(!nc_bucket_take(&b, 5000, 50));
	/* 20 ms earns one token at 50 a second, 19 ms none */
	CHECK(!nc_bucket_take(&b, 5019, 50));
	CHECK(nc_bucket_take(&b, 5020, 50));
	CHECK(!nc_bucket_take(&b, 5020, 50));
	/* 100 ms: five, never more than the bucket holds */
	CHECK_EQ(bucket_drain(&b, 5120, 50), 5);
	CHECK_EQ(bucket_drain(&b, 60000, 50), 50);
}

NC_TEST(bucket_keeps_fractions)
{
	struct nc_bucket b = { 0 };
	u32 got = 0;
	u64 t;

	/* 3 a second, asked every 100 ms: 3 a second, not 0 */
	bucket_drain(&b, 1000, 3);
	for (t = 1100; t <= 11000; t += 100)
		got += nc_bucket_take(&b, t, 3);
	CHECK_EQ(got, 30);
}

NC_TEST(bucket_limits)
{
	struct nc_bucket b = { 0 };

	/* rate 0 gives nothing; a rate above the maximum is the maximum */
	CHECK(!nc_bucket_take(&b, 1000, 0));
	CHECK_EQ(bucket_drain(&b, 1000, ~0u), NC_BUCKET_RATE_MAX);
	/* 999 ms at the maximum rate does not overflow: 999000 tokens */
	CHECK_EQ(bucket_drain(&b, 1999, NC_BUCKET_RATE_MAX), 999000);
	/* a lower rate takes effect at once, even on a full bucket */
	CHECK_EQ(bucket_drain(&b, 9000, 10), 10);
	/* a clock set back refills nothing and is not stuck after */
	CHECK_EQ(bucket_drain(&b, 500, 10), 0);
	CHECK_EQ(bucket_drain(&b, 600, 10), 1);
}

/*
 * The receiver acknowledges every quarter window, at most every
 * NC_ACK_BYTES, across the wrap, and every NC_ACK_FRAMES frames; an ack
 * ahead of nxt is nothing due.
 */
NC_TEST(ack_due)
{
	/* 64 KiB window: every 16 KiB */
	CHECK(!nc_ack_due(16383, 0, 65536, 1));
	CHECK(nc_ack_due(16384, 0, 65536, 1));
	/* 4 MiB window: capped at 256 KiB */
	CHECK(!nc_ack_due(NC_ACK_BYTES - 1, 0, 4u << 20, 1));
	CHECK(nc_ack_due(NC_ACK_BYTES, 0, 4u << 20, 1));
	/* exactly 1 MiB: win / 4 == NC_ACK_BYTES */
	CHECK(nc_ack_due(NC_ACK_BYTES, 0, 1u << 20, 1));
	CHECK(!nc_ack_due(NC_ACK_BYTES - 1, 0, 1u << 20, 1));
	/* across the wrap */
	CHECK(nc_ack_due(0x1000u, 0xfffff000u, 16384, 1));
	CHECK(!nc_ack_due(0x0fffu, 0xfffff000u, 32768, 1));
	/* nothing new, or an ack ahead of nxt */
	CHECK(!nc_ack_due(5000, 5000, 4096, 1));
	CHECK(!nc_ack_due(5000, 900000, 4096, 1));
	/* a window below 4 bytes still acknowledges */
	CHECK(nc_ack_due(1, 0, 3, 1));
	/* many small frames: after NC_ACK_FRAMES, whatever their bytes */
	CHECK(!nc_ack_due(NC_ACK_FRAMES - 1, 0, 4u << 20, NC_ACK_FRAMES - 1));
	CHECK(nc_ack_due(NC_ACK_FRAMES, 0, 4u << 20, NC_ACK_FRAMES));
	CHECK(nc_ack_due(1, 0, 4u << 20, NC_ACK_FRAMES + 5));
	/* frames that brought nothing in order: nothing to acknowledge */
	CHECK(!nc_ack_due(5000, 5000, 4u << 20, NC_ACK_FRAMES));
}

/* Twice the send limit plus two ACK intervals, kept within a window. */
NC_TEST(rtx_cap)
{
	CHECK_EQ(nc_rtx_cap(NC_SNDLIM_FLOOR), 2 * NC_SNDLIM_FLOOR + 2 * NC_ACK_BYTES);
	CHECK_EQ(nc_rtx_cap(4u << 20), (8u << 20) + 2 * NC_ACK_BYTES);
	CHECK_EQ(nc_rtx_cap(0), 2 * NC_ACK_BYTES);
	CHECK_EQ(nc_rtx_cap(NC_WIN_MAX), NC_WIN_MAX - 2 * 65536u);
	CHECK_EQ(nc_rtx_cap(0xffffffffu), NC_WIN_MAX - 2 * 65536u);
}

static const struct nc_test_case cases[] = {
	NC_CASE(win_clamp),
	NC_CASE(sndlim_auto),
	NC_CASE(tx_basic),
	NC_CASE(tx_bad_initial_limit),
	NC_CASE(tx_update_too_large),
	NC_CASE(tx_wraparound),
	NC_CASE(rx_basic_and_grant),
	NC_CASE(rx_grant_within_reserved_memory),
	NC_CASE(rx_grant_within_wraps),
	NC_CASE(rx_min_window),
	NC_CASE(rx_wraparound),
	NC_CASE(model_no_overrun_no_deadlock),
	NC_CASE(independent_connections),
	NC_CASE(lost_grant_is_offered_again),
	NC_CASE(ungrant_after_later_grant),
	NC_CASE(bucket_burst_then_rate),
	NC_CASE(bucket_keeps_fractions),
	NC_CASE(bucket_limits),
	NC_CASE(ack_due),
	NC_CASE(rtx_cap),
};

void suite_credit(void)
{
	nc_run_suite("credit", cases, sizeof(cases) / sizeof(cases[0]));
}
