// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for the deficit round robin in nc_stripe.c: fair service
 * between the connections that share a channel.
 */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_stripe.h"

struct item {
	struct list_head node;
	u32 len;
	int flow;
	u32 n;		/* position within its flow */
};

static u32 item_len(const struct list_head *it)
{
	return container_of(it, struct item, node)->len;
}

static struct item *pop(struct nc_drr *d)
{
	struct list_head *it = nc_drr_dequeue(d);

	return it ? container_of(it, struct item, node) : NULL;
}

static struct item *mk(struct item *pool, int *used, int flow, u32 len, u32 n)
{
	struct item *it = &pool[(*used)++];

	it->len = len;
	it->flow = flow;
	it->n = n;
	return it;
}

/*
 * The case it exists for: a connection queues one small frame behind a
 * connection with a hundred full frames queued on the same channel.  In
 * arrival order it would leave last; here second, after one turn of the
 * large writer.
 */
NC_TEST(drr_small_not_behind_backlog)
{
	static struct item pool[101];
	struct nc_drr_flow a, b;
	struct nc_drr d;
	struct item *it;
	int used = 0, i, pos = -1;

	nc_drr_init(&d, 65536, item_len);
	nc_drr_flow_init(&a);
	nc_drr_flow_init(&b);
	for (i = 0; i < 100; i++)
		CHECK_EQ(nc_drr_enqueue(&d, &a, &mk(pool, &used, 0, 65000, i)->node), 0);
	CHECK_EQ(nc_drr_enqueue(&d, &b, &mk(pool, &used, 1, 100, 0)->node), 0);
	CHECK_EQ(d.flows, 2);
	for (i = 0; (it = pop(&d)); i++)
		if (it->flow == 1)
			pos = i;
	CHECK_EQ(i, 101);
	CHECK_EQ(pos, 1);
	CHECK_EQ(d.flows, 0);
	CHECK(list_empty(&d.active));
	CHECK(a.on == NULL && b.on == NULL);
}

/* Items of one flow leave in the order queued; each once; idle flows reusable. */
NC_TEST(drr_order_within_flow)
{
	static struct item pool[300];
	struct nc_drr_flow fl[3];
	u32 next[3] = { 0, 0, 0 }, cnt[3] = { 0, 0, 0 };
	struct nc_drr d;
	struct item *it;
	int used = 0, i, f;

	nc_drr_init(&d, 3000, item_len);
	for (f = 0; f < 3; f++)
		nc_drr_flow_init(&fl[f]);
	for (i = 0; i < 300; i++) {
		f = i % 3;
		nc_drr_enqueue(&d, &fl[f], &mk(pool, &used, f, 1 + (i * 37) % 5000, cnt[f]++)->node);
	}
	while ((it = pop(&d))) {
		CHECK_EQ(it->n, next[it->flow]);
		next[it->flow]++;
	}
	for (f = 0; f < 3; f++) {
		CHECK_EQ(next[f], 100);
		CHECK(fl[f].on == NULL && list_empty(&fl[f].q) && !fl[f].deficit);
	}
	CHECK(pop(&d) == NULL);
}

/*
 * Flows that stay busy get bytes in step: after any number of items, two
 * busy flows differ by at most a quantum and a largest item, whatever
 * their frame sizes (here 1:16:65 in size).
 */
NC_TEST(drr_fair_bytes)
{
	static const u32 size[3] = { 1000, 16000, 65000 };
	static struct item pool[3 * 400];
	struct nc_drr_flow fl[3];
	u64 got[3] = { 0, 0, 0 };
	struct nc_drr d;
	int used = 0, i, f, g;

	nc_drr_init(&d, 65536, item_len);
	for (f = 0; f < 3; f++) {
		nc_drr_flow_init(&fl[f]);
		for (i = 0; i < 400; i++)
			nc_drr_enqueue(&d, &fl[f], &mk(pool, &used, f, size[f], i)->node);
	}
	/* the 1000-byte flow has the least queued: compare while it is busy */
	while (!list_empty(&fl[0].q)) {
		struct item *it = pop(&d);

		got[it->flow] += it->len;
		for (f = 0; f < 3; f++)
			for (g = 0; g < 3; g++)
				CHECK(got[f] <= got[g] + 65536 + 65000);
	}
	CHECK(got[0] == 400 * 1000);
	CHECK(d.turns > 0);
}

/* A flow with items on one channel's queue cannot join another's. */
NC_TEST(drr_flow_bound_to_one_queue)
{
	static struct item pool[3];
	struct nc_drr d1, d2;
	struct nc_drr_flow fl;
	struct list_head out;
	int used = 0;

	nc_drr_init(&d1, 100, item_len);
	nc_drr_init(&d2, 100, item_len);
	nc_drr_flow_init(&fl);
	CHECK_EQ(nc_drr_enqueue(&d1, &fl, &mk(pool, &used, 0, 10, 0)->node), 0);
	CHECK(fl.on == &d1);
	CHECK_EQ(nc_drr_enqueue(&d2, &fl, &mk(pool, &used, 0, 10, 1)->node), -EBUSY);
	CHECK(list_empty(&d2.active) && d2.flows == 0);
	CHECK(pop(&d2) == NULL);
	CHECK(pop(&d1) == &pool[0]);
	CHECK(fl.on == NULL);
	CHECK_EQ(nc_drr_enqueue(&d2, &fl, &pool[1].node), 0);
	CHECK(fl.on == &d2);
	/* purge hands every item over and leaves the flows idle */
	CHECK_EQ(nc_drr_enqueue(&d2, &fl, &mk(pool, &used, 0, 10, 2)->node), 0);
	INIT_LIST_HEAD(&out);
	nc_drr_purge(&d2, &out);
	CHECK(out.next == &pool[1].node && out.next->next == &pool[2].node &&
	      out.next->next->next == &out);
	CHECK(fl.on == NULL && list_empty(&fl.q) && d2.flows == 0);
	CHECK(list_empty(&d2.active));
}

/*
 * One flow's items taken away (its connection is gone): only from the
 * queue it is busy on; the other flows keep theirs and their turns.
 */
NC_TEST(drr_flow_purge_one)
{
	static struct item pool[5];
	struct nc_drr_flow a, b;
	struct nc_drr d, other;
	struct list_head out;
	int used = 0;

	nc_drr_init(&d, 100, item_len);
	nc_drr_init(&other, 100, item_len);
	nc_drr_flow_init(&a);
	nc_drr_flow_init(&b);
	INIT_LIST_HEAD(&out);
	nc_drr_enqueue(&d, &a, &mk(pool, &used, 0, 10, 0)->node);
	nc_drr_enqueue(&d, &b, &mk(pool, &used, 1, 10, 0)->node);
	nc_drr_enqueue(&d, &a, &mk(pool, &used, 0, 10, 1)->node);
	nc_drr_enqueue(&d, &b, &mk(pool, &used, 1, 10, 1)->node);
	nc_drr_flow_purge(&other, &a, &out);	/* not busy there: nothing */
	CHECK(list_empty(&out) && a.on == &d && d.flows == 2);
	nc_drr_flow_purge(&d, &a, &out);
	CHECK(out.next == &pool[0].node && out.next->next == &pool[2].node &&
	      out.next->next->next == &out);
	CHECK(a.on == NULL && list_empty(&a.q) && d.flows == 1);
	nc_drr_flow_purge(&d, &a, &out);	/* idle: nothing more */
	CHECK(out.next->next->next == &out);
	CHECK(pop(&d) == &pool[1]);
	CHECK(pop(&d) == &pool[3]);
	CHECK(pop(&d) == NULL && d.flows == 0);
}

/* Items larger than the quantum, and a quantum of 0 (taken as 1), still leave. */
NC_TEST(drr_item_over_quantum)
{
	static struct item pool[4];
	struct nc_drr_flow a, b;
	struct nc_drr d;
	int used = 0;

	nc_drr_init(&d, 0, item_len);
	CHECK_EQ(d.quantum, 1);
	nc_drr_flow_init(&a);
	nc_drr_flow_init(&b);
	nc_drr_enqueue(&d, &a, &mk(pool, &used, 0, 7, 0)->node);
	nc_drr_enqueue(&d, &b, &mk(pool, &used, 1, 3, 0)->node);
	nc_drr_enqueue(&d, &a, &mk(pool, &used, 0, 1, 1)->node);
	/* b's 3 bytes need fewer turns than a's 7 */
	CHECK(pop(&d) == &pool[1]);
	CHECK(pop(&d) == &pool[0]);
	CHECK(pop(&d) == &pool[2]);
	CHECK(pop(&d) == NULL);
}

/*
 * Random enqueues and dequeues on 4 flows: every item leaves once, in its
 * flow's order, and the busy count matches the flows with items.
 */
NC_TEST(drr_model)
{
	enum { NF = 4, NI = 20000 };
	static struct item pool[NI];
	struct nc_drr_flow fl[NF];
	u32 qn[NF] = { 0 }, next[NF] = { 0 }, s = 99;
	struct nc_drr d;
	int used = 0, out = 0, f, busy;

	nc_drr_init(&d, 8192, item_len);
	for (f = 0; f < NF; f++)
		nc_drr_flow_init(&fl[f]);
	while (used < NI || out < used) {
		u32 r = nc_test_xorshift32(&s);

		if (used < NI && r % 3) {
			f = (r >> 8) % NF;
			nc_drr_enqueue(&d, &fl[f],
				       &mk(pool, &used, f, 1 + (r >> 12) % 8192, qn[f]++)->node);
		} else {
			struct item *it = pop(&d);

			if (!it)
				continue;
			out++;
			CHECK_EQ(it->n, next[it->flow]);
			next[it->flow]++;
		}
		for (busy = 0, f = 0; f < NF; f++)
			busy += !list_empty(&fl[f].q);
		CHECK_EQ(d.flows, busy);
	}
	CHECK(pop(&d) == NULL);
	for (f = 0; f < NF; f++)
		CHECK_EQ(next[f], qn[f]);
}

void suite_drr(void);
void suite_drr(void)
{
	static const struct nc_test_case cases[] = {
		NC_CASE(drr_small_not_behind_backlog),
		NC_CASE(drr_order_within_flow),
		NC_CASE(drr_fair_bytes),
		NC_CASE(drr_flow_bound_to_one_queue),
		NC_CASE(drr_flow_purge_one),
		NC_CASE(drr_item_over_quantum),
		NC_CASE(drr_model),
	};

	nc_run_suite("drr", cases, sizeof(cases) / sizeof(cases[0]));
}
