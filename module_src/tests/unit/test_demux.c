// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_demux.c: lookup table and port bitmap. */
#include <stdlib.h>
#include <pthread.h>
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
	l.node.gen = 0;
	c.node.gen = 0;
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

/* The lookup without the lock, and what it may and may not answer. */
NC_TEST(rcu_lookup_confirm)
{
	struct nc_dnode __rcu *b[1];
	struct nc_demux d;
	struct conn p = { .id = 1 }, q = { .id = 2 }, r = { .id = 3 };
	struct nc_dkey kp = key(1, 10, 1), kq = key(1, 11, 1);
	struct nc_dkey kr = key(1, 12, 1), k2 = key(1, 13, 1);

	nc_demux_init(&d, b, 1, 9);	/* one chain: r -> q -> p */
	p.node.key = kp;
	q.node.key = kq;
	r.node.key = kr;
	CHECK_EQ(nc_demux_insert(&d, &p.node), 0);
	CHECK_EQ(nc_demux_insert(&d, &q.node), 0);
	CHECK_EQ(nc_demux_insert(&d, &r.node), 0);
	CHECK_EQ(q.node.gen, 1);
	CHECK(nc_demux_lookup_rcu(&d, &kq) == &q.node);
	CHECK(nc_demux_confirm(&q.node, &kq));
	CHECK(!nc_demux_confirm(&q.node, &kp));
	CHECK(nc_demux_lookup_rcu(&d, &k2) == NULL);

	/* out of the table: not confirmed, and a walk standing on it goes on */
	CHECK_EQ(nc_demux_remove(&d, &q.node), 0);
	CHECK_EQ(q.node.gen, 2);
	CHECK(!nc_demux_confirm(&q.node, &kq));
	CHECK(nc_demux_lookup_rcu(&d, &kq) == NULL);
	CHECK(nc_rcu_locked(q.node.next) == &p.node);
	CHECK(nc_demux_lookup_rcu(&d, &kp) == &p.node);

	/* back with another key: confirmed for that key only */
	q.node.key = k2;
	CHECK_EQ(nc_demux_insert(&d, &q.node), 0);
	CHECK_EQ(q.node.gen, 3);
	CHECK(!nc_demux_confirm(&q.node, &kq));
	CHECK(nc_demux_confirm(&q.node, &k2));
	CHECK(nc_demux_lookup_rcu(&d, &k2) == &q.node);
	CHECK(nc_demux_lookup_rcu(&d, &kr) == &r.node);
	CHECK(nc_demux_lookup_rcu(&d, &kp) == &p.node);
	CHECK_EQ(d.count, 3);
}

/*
 * One thread moves nodes between keys and chains under a mutex (the
 * module's table lock) while another looks up without it, as the module
 * does: nc_demux_lookup_rcu(), nc_demux_confirm(), and on a miss again
 * under the mutex.  Nodes are never freed here, which is what RCU gives
 * the module.  Stable nodes are always found.  The churning nodes
 * alternate between two keys each; a key made of one's fields and the
 * other's is never in the table, and must never be confirmed however the
 * reads interleave with the changes (the walk may still find a node by
 * such a key, read half old, half new).
 */
enum { RC_STABLE = 8, RC_CHURN = 8, RC_MOVES = 60000 };

struct rc_state {
	struct nc_demux d;
	struct nc_dnode __rcu *b[4];
	pthread_mutex_t lock;
	struct conn stable[RC_STABLE], churn[RC_CHURN];
	int done;
	long fast, slow, lost, mixed_ok;
};

static struct nc_dkey rc_key(int j, int which)
{
	return which ? key(100 + j, 3, 4) : key(100 + j, 1, 2);
}

static void *rc_writer(void *arg)
{
	struct rc_state *st = arg;
	u32 rnd = 12345;
	int i;

	for (i = 0; i < RC_MOVES; i++) {
		struct conn *c = &st->churn[nc_test_xorshift32(&rnd) % RC_CHURN];
		struct nc_dkey k;

		pthread_mutex_lock(&st->lock);
		nc_demux_remove(&st->d, &c->node);
		k = rc_key(c->id, READ_ONCE(c->node.key.lport) == 1);
		WRITE_ONCE(c->node.key.lport, k.lport);
		WRITE_ONCE(c->node.key.rport, k.rport);
		nc_demux_insert(&st->d, &c->node);
		pthread_mutex_unlock(&st->lock);
	}
	__atomic_store_n(&st->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static struct nc_dnode *rc_lookup(struct rc_state *st, const struct nc_dkey *k)
{
	struct nc_dnode *n = nc_demux_lookup_rcu(&st->d, k);

	if (n && nc_demux_confirm(n, k)) {
		st->fast++;
		return n;
	}
	st->slow++;
	pthread_mutex_lock(&st->lock);
	n = nc_demux_lookup(&st->d, k);
	pthread_mutex_unlock(&st->lock);
	return n;
}

NC_TEST(rcu_lookup_concurrent)
{
	static struct rc_state st;
	pthread_t w;
	u32 rnd = 777;
	int i;

	memset(&st, 0, sizeof(st));
	pthread_mutex_init(&st.lock, NULL);
	nc_demux_init(&st.d, st.b, 4, 3);
	for (i = 0; i < RC_STABLE; i++) {
		st.stable[i].node.key = key(7, (u16)(200 + i), 1);
		CHECK_EQ(nc_demux_insert(&st.d, &st.stable[i].node), 0);
	}
	for (i = 0; i < RC_CHURN; i++) {
		st.churn[i].id = i;
		st.churn[i].node.key = rc_key(i, 0);
		CHECK_EQ(nc_demux_insert(&st.d, &st.churn[i].node), 0);
	}
	CHECK_EQ(pthread_create(&w, NULL, rc_writer, &st), 0);
	while (!__atomic_load_n(&st.done, __ATOMIC_ACQUIRE)) {
		int j = (int)(nc_test_xorshift32(&rnd) % RC_STABLE);
		int c = (int)(nc_test_xorshift32(&rnd) % RC_CHURN);
		struct nc_dkey ks = key(7, (u16)(200 + j), 1);
		struct nc_dkey mixed[2] = { key(100 + c, 1, 4), key(100 + c, 3, 2) };
		struct nc_dnode *n;
		int m;

		if (rc_lookup(&st, &ks) != &st.stable[j].node)
			st.lost++;
		for (m = 0; m < 2; m++) {
			n = nc_demux_lookup_rcu(&st.d, &mixed[m]);
			if (n && nc_demux_confirm(n, &mixed[m]))
				st.mixed_ok++;
		}
	}
	pthread_join(w, NULL);
	CHECK_EQ(st.lost, 0);
	CHECK_EQ(st.mixed_ok, 0);
	CHECK(st.fast > 0);
	CHECK_EQ(st.d.count, RC_STABLE + RC_CHURN);
	printf("  rcu_lookup_concurrent: %ld lock-free, %ld under the lock\n",
	       st.fast, st.slow);
	pthread_mutex_destroy(&st.lock);
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
	NC_CASE(rcu_lookup_confirm),
	NC_CASE(rcu_lookup_concurrent),
};

void suite_demux(void)
{
	nc_run_suite("demux", cases, sizeof(cases) / sizeof(cases[0]));
}
