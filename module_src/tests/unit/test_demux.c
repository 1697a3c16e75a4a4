// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_demux.c: lookup table and port bitmap. */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_demux.h"

struct conn {
	struct nc_dnode node;
	int id;
};

static struct nc_dkey key(u32 peer, u16 l, u16 r)
{
	struct nc_dkey k = { .peer = peer, .lport = l, .rport = r };

	return k;
}

NC_TEST(init_rejects_non_pow2)
{
	struct nc_dnode *b[16];
	struct nc_demux d;

	CHECK_EQ(nc_demux_init(&d, b, 0, 1), -EINVAL);
	CHECK_EQ(nc_demux_init(&d, b, 12, 1), -EINVAL);
	CHECK_EQ(nc_demux_init(&d, b, 16, 1), 0);
	CHECK_EQ(nc_demux_init(&d, b, 1, 1), 0);
}

NC_TEST(insert_lookup_remove)
{
	struct nc_dnode *b[8];
	struct nc_demux d;
	struct conn a = { .id = 1 }, c = { .id = 2 }, dup = { .id = 3 };
	struct nc_dkey k;

	nc_demux_init(&d, b, 8, 42);
	a.node.key = key(0x0a000001, 80, 5000);
	c.node.key = key(0x0a000001, 80, 5001);
	dup.node.key = a.node.key;
	CHECK_EQ(nc_demux_insert(&d, &a.node), 0);
	CHECK_EQ(nc_demux_insert(&d, &c.node), 0);
	CHECK_EQ(nc_demux_insert(&d, &a.node), -EBUSY);
	CHECK_EQ(nc_demux_insert(&d, &dup.node), -EEXIST);
	CHECK_EQ(d.count, 2);
	k = key(0x0a000001, 80, 5000);
	CHECK(nc_demux_lookup(&d, &k) == &a.node);
	k.rport = 5001;
	CHECK(nc_demux_lookup(&d, &k) == &c.node);
	k.peer = 0x0a000002;
	CHECK(nc_demux_lookup(&d, &k) == NULL);
	CHECK_EQ(nc_demux_remove(&d, &a.node), 0);
	CHECK_EQ(nc_demux_remove(&d, &a.node), -ENOENT);
	k = key(0x0a000001, 80, 5000);
	CHECK(nc_demux_lookup(&d, &k) == NULL);
	CHECK_EQ(nc_demux_insert(&d, &dup.node), 0);
	CHECK(nc_demux_lookup(&d, &k) == &dup.node);
	CHECK_EQ(d.count, 2);
}

NC_TEST(listener_and_connection_keys_distinct)
{
	struct nc_dnode *b[4];
	struct nc_demux d;
	struct conn l, c;
	struct nc_dkey k = key(0, 80, 0);

	nc_demux_init(&d, b, 4, 0);
	l.node.hashed = false;
	c.node.hashed = false;
	l.node.key = key(0, 80, 0);
	c.node.key = key(0x7f000001, 80, 40000);
	CHECK_EQ(nc_demux_insert(&d, &l.node), 0);
	CHECK_EQ(nc_demux_insert(&d, &c.node), 0);
	CHECK(nc_demux_lookup(&d, &k) == &l.node);
}

/* Many entries in few buckets (long chains), remove in odd order. */
NC_TEST(many_entries_chains)
{
	enum { N = 5000 };
	struct nc_dnode *b[64];
	struct nc_demux d;
	struct conn *cs = calloc(N, sizeof(*cs));
	int i, found = 0;
	u32 bucket = 0;
	struct nc_dnode *n;

	nc_demux_init(&d, b, 64, 7);
	for (i = 0; i < N; i++) {
		cs[i].id = i;
		cs[i].node.key = key(0xc6120000u + i % 7, (u16)(1000 + i % 100),
				     (u16)(i / 100 + 1));
		CHECK_EQ(nc_demux_insert(&d, &cs[i].node), 0);
	}
	CHECK_EQ(d.count, N);
	for (n = nc_demux_next(&d, &bucket, NULL); n;
	     n = nc_demux_next(&d, &bucket, n))
		found++;
	CHECK_EQ(found, N);
	for (i = 0; i < N; i += 3)
		CHECK_EQ(nc_demux_remove(&d, &cs[i].node), 0);
	for (i = 0; i < N; i++) {
		struct nc_dnode *got = nc_demux_lookup(&d, &cs[i].node.key);

		if (i % 3 == 0)
			CHECK(got == NULL);
		else
			CHECK(got == &cs[i].node);
	}
	/* remove-while-iterating pattern used by the module */
	bucket = 0;
	n = nc_demux_next(&d, &bucket, NULL);
	while (n) {
		CHECK_EQ(nc_demux_remove(&d, n), 0);
		n = nc_demux_next(&d, &bucket, NULL);
	}
	CHECK_EQ(d.count, 0);
	free(cs);
}

NC_TEST(hash_spreads)
{
	int counts[16] = { 0 };
	int i, max = 0;

	for (i = 0; i < 16000; i++) {
		struct nc_dkey k = key(0x7f000001, 9000, (u16)(32768 + i));

		counts[nc_dkey_hash(&k, 1) & 15]++;
	}
	for (i = 0; i < 16; i++)
		if (counts[i] > max)
			max = counts[i];
	CHECK(max < 1300);	/* ideal is 1000 */
}

NC_TEST(ports_reserve_release)
{
	static struct nc_portmap pm;

	nc_ports_init(&pm);
	CHECK_EQ(nc_ports_reserve(&pm, 0), -EINVAL);
	CHECK_EQ(nc_ports_reserve(&pm, 80), 0);
	CHECK_EQ(nc_ports_reserve(&pm, 80), -EADDRINUSE);
	CHECK_EQ(nc_ports_reserve(&pm, 65535), 0);
	CHECK(nc_ports_in_use(&pm, 65535));
	CHECK_EQ(pm.used, 2);
	CHECK_EQ(nc_ports_release(&pm, 80), 0);
	CHECK_EQ(nc_ports_release(&pm, 80), -ENOENT);
	CHECK_EQ(nc_ports_release(&pm, 0), -ENOENT);
	CHECK_EQ(pm.used, 1);
}

NC_TEST(ports_alloc_exhaust_wrap)
{
	static struct nc_portmap pm;
	int p, i;

	nc_ports_init(&pm);
	CHECK_EQ(nc_ports_alloc(&pm, 0, 10, 0), -EINVAL);
	CHECK_EQ(nc_ports_alloc(&pm, 10, 9, 0), -EINVAL);
	p = nc_ports_alloc(&pm, 100, 103, 2);
	CHECK_EQ(p, 102);
	CHECK_EQ(nc_ports_alloc(&pm, 100, 103, 2), 103);
	CHECK_EQ(nc_ports_alloc(&pm, 100, 103, 2), 100);	/* wraps */
	CHECK_EQ(nc_ports_alloc(&pm, 100, 103, 0xffffffffu), 101);
	CHECK_EQ(nc_ports_alloc(&pm, 100, 103, 0), -EADDRNOTAVAIL);
	nc_ports_release(&pm, 101);
	CHECK_EQ(nc_ports_alloc(&pm, 100, 103, 0), 101);
	/* whole ephemeral range, then exhaustion */
	nc_ports_init(&pm);
	for (i = NC_PORT_EPH_LO; i <= NC_PORT_EPH_HI; i++)
		CHECK(nc_ports_alloc(&pm, NC_PORT_EPH_LO, NC_PORT_EPH_HI, 5) > 0);
	CHECK_EQ(nc_ports_alloc(&pm, NC_PORT_EPH_LO, NC_PORT_EPH_HI, 5),
		 -EADDRNOTAVAIL);
	CHECK_EQ(pm.used, NC_PORT_EPH_HI - NC_PORT_EPH_LO + 1);
	CHECK_EQ(nc_ports_alloc(&pm, 65535, 65535, 0), 65535);
}

/* SO_REUSEPORT: in range, stable, and spread over the listeners */
NC_TEST(reuse_pick_spreads)
{
	u32 n, cnt[8], peer, rport, i;

	for (n = 1; n <= 8; n++) {
		memset(cnt, 0, sizeof(cnt));
		for (peer = 0; peer < 4; peer++)
			for (rport = 32768; rport < 32768 + 1024; rport++) {
				u32 k = nc_reuse_pick(0xc6120001 + peer, (u16)rport, 77, n);

				CHECK(k < n);
				CHECK_EQ(nc_reuse_pick(0xc6120001 + peer, (u16)rport, 77, n), k);
				cnt[k % 8]++;
			}
		/* 4096 connections: every listener within 20% of its share */
		for (i = 0; i < n; i++) {
			CHECK(cnt[i] * n * 10 > 4096 * 8);
			CHECK(cnt[i] * n * 10 < 4096 * 12);
		}
	}
	/* consecutive client ports from one peer alternate, not pile up */
	for (i = 0, n = 0; i < 64; i++)
		n += nc_reuse_pick(0xc6120002, (u16)(40000 + i), 1, 2);
	CHECK(n > 16 && n < 48);
}

/* A peer reaches the table address only; this host also reaches 127/8. */
NC_TEST(connect_destination_as_tcp)
{
	u32 here = 0xc6120001, lo = 0x7f000001;

	CHECK(nc_daddr_ok(here, here, false));
	CHECK(nc_daddr_ok(here, here, true));
	CHECK(!nc_daddr_ok(lo, here, false));
	CHECK(nc_daddr_ok(lo, here, true));
	CHECK(nc_daddr_ok(0x7f0000fe, here, true));
	CHECK(!nc_daddr_ok(0xc6120002, here, false));
	CHECK(!nc_daddr_ok(0xc6120002, here, true));
	CHECK(!nc_daddr_ok(0, here, true));
	/* listeners: INADDR_ANY takes every address, a bound one its own */
	CHECK(nc_listen_match(0, here));
	CHECK(nc_listen_match(0, lo));
	CHECK(nc_listen_match(lo, lo));
	CHECK(!nc_listen_match(lo, here));
	CHECK(!nc_listen_match(lo, 0x7f000002));
	CHECK(!nc_listen_match(here, lo));
	CHECK(nc_listen_match(here, here));
}

static const struct nc_test_case cases[] = {
	NC_CASE(init_rejects_non_pow2),
	NC_CASE(insert_lookup_remove),
	NC_CASE(listener_and_connection_keys_distinct),
	NC_CASE(many_entries_chains),
	NC_CASE(hash_spreads),
	NC_CASE(ports_reserve_release),
	NC_CASE(ports_alloc_exhaust_wrap),
	NC_CASE(reuse_pick_spreads),
	NC_CASE(connect_destination_as_tcp),
};

void suite_demux(void)
{
	nc_run_suite("demux", cases, sizeof(cases) / sizeof(cases[0]));
}
