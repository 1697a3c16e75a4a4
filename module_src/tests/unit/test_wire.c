// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_wire.c: header codec, validation, stream parser. */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_wire.h"

static struct nc_hdr mk(u8 type, u32 len)
{
	struct nc_hdr h = {
		.type = type, .flags = 0, .sport = 1234, .dport = 80,
		.conn_id = 0xdeadbeef, .len = len, .credit = 0x01020304,
	};
	return h;
}

NC_TEST(compat_byte_order_and_seq)
{
	u8 b[4];

	nc_put_be16(b, 0xa1b2);
	CHECK(b[0] == 0xa1 && b[1] == 0xb2);
	CHECK_EQ(nc_get_be16(b), 0xa1b2);
	nc_put_be32(b, 0xdeadbeefu);
	CHECK(b[0] == 0xde && b[1] == 0xad && b[2] == 0xbe && b[3] == 0xef);
	CHECK_EQ(nc_get_be32(b), 0xdeadbeefu);
	nc_put_be32(b, 0);
	CHECK_EQ(nc_get_be32(b), 0);
	CHECK(nc_seq_before(1, 2));
	CHECK(!nc_seq_before(2, 1));
	CHECK(!nc_seq_before(5, 5));
	CHECK(nc_seq_before(0xfffffff0u, 0x10));	/* across the wrap */
	CHECK(!nc_seq_before(0x10, 0xfffffff0u));
}

NC_TEST(encode_layout)
{
	struct nc_hdr h = mk(NC_T_DATA, 0x10);
	u8 b[NC_HDR_LEN];
	static const u8 want[NC_HDR_LEN] = {
		0x4e, 0x43, 1, NC_T_DATA, 0x00, 0x01, 0, 0, 0x04, 0xd2, 0x00,
		0x50, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0x10, 1, 2, 3, 4,
	};

	h.flags = NC_F_LATENCY;
	nc_hdr_encode(&h, b);
	CHECK(!memcmp(b, want, sizeof(want)));
}

NC_TEST(roundtrip_all_types)
{
	u8 b[NC_HDR_LEN];
	struct nc_hdr h, d;
	int t;

	for (t = NC_T_HELLO; t < NC_T_MAX_V1; t++) {
		h = mk((u8)t, t == NC_T_DATA ? NC_MAX_PAYLOAD : 0);
		nc_hdr_encode(&h, b);
		nc_hdr_decode(b, &d);
		CHECK_EQ(d.magic, NC_WIRE_MAGIC);
		CHECK_EQ(d.version, NC_WIRE_VERSION);
		CHECK_EQ(d.type, t);
		CHECK_EQ(d.sport, 1234);
		CHECK_EQ(d.dport, 80);
		CHECK_EQ(d.conn_id, 0xdeadbeefu);
		CHECK_EQ(d.len, h.len);
		CHECK_EQ(d.credit, 0x01020304u);
		CHECK_EQ(nc_hdr_validate(&d), NC_WERR_NONE);
	}
}

NC_TEST(validate_errors)
{
	struct nc_hdr h = mk(NC_T_DATA, 1);
	u8 b[NC_HDR_LEN];

	h.magic = NC_WIRE_MAGIC;
	h.version = NC_WIRE_VERSION;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_NONE);
	h.magic = 0x4e44;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_MAGIC);
	h.magic = NC_WIRE_MAGIC;
	h.version = 2;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_VERSION);
	h.version = NC_WIRE_VERSION;
	h.type = 0;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_TYPE);
	h.type = NC_T_MAX_V1;	/* ACK is v2 only */
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_TYPE);
	h.type = NC_T_MAX;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_TYPE);
	h.type = 255;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_TYPE);
	h.type = NC_T_DATA;
	h.flags = 0x8000;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_FLAGS);
	h.flags = 0;
	h.rsvd = 1;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_RSVD);
	h.rsvd = 0;
	h.len = 0;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_LEN);
	h.len = NC_MAX_PAYLOAD + 1;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_LEN);
	h.len = 0xffffffffu;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_LEN);
	h.len = NC_MAX_PAYLOAD;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_NONE);
	h.type = NC_T_CREDIT;
	h.len = 1;
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_LEN);
	/* encode never emits a reserved field */
	h.len = 0;
	h.rsvd = 7;
	nc_hdr_encode(&h, b);
	CHECK(b[6] == 0 && b[7] == 0);
	CHECK(strcmp(nc_wire_strerror(NC_WERR_MAGIC), "bad magic") == 0);
	CHECK(strcmp(nc_wire_strerror(-1), "invalid error code") == 0);
	CHECK(strcmp(nc_wire_strerror(NC_WERR_MAX), "invalid error code") == 0);
}

/* ---- stream parser ---- */

#define MAXF 64
struct collected {
	int nfr;
	struct nc_hdr hdr[MAXF];
	u32 got[MAXF];
	u8 *pay[MAXF];
	int ended[MAXF];
	int err;
	int events_after_error;
};

static void collect_free(struct collected *c)
{
	int i;

	for (i = 0; i < c->nfr; i++)
		free(c->pay[i]);
	memset(c, 0, sizeof(*c));
}

/* Feed buf in chunks of sizes given by the chunk() callback. */
static void feed_all(struct nc_parser *p, struct collected *c, const u8 *buf,
		     size_t len, size_t (*chunk)(size_t, void *), void *arg)
{
	size_t off = 0;

	do {
		size_t n = off < len ? chunk(len - off, arg) : 0;
		const u8 *piece = buf + off;
		struct nc_event ev;

		if (n > len - off)
			n = len - off;
		off += n;
		for (;;) {
			size_t used = nc_parser_feed(p, piece, n, &ev);

			CHECK(used <= n);
			piece += used;
			n -= used;
			if (ev.type == NC_EV_NEED_MORE) {
				CHECK_EQ(n, 0);
				break;
			}
			if (ev.type == NC_EV_ERROR) {
				c->err = ev.err;
				return;
			}
			if (ev.type == NC_EV_HDR) {
				CHECK(c->nfr < MAXF);
				if (c->nfr >= MAXF)
					return;
				c->hdr[c->nfr] = *ev.hdr;
				c->pay[c->nfr] = malloc(ev.hdr->len + 1);
				c->nfr++;
			} else if (ev.type == NC_EV_DATA) {
				int i = c->nfr - 1;

				CHECK(i >= 0);
				CHECK(c->got[i] + ev.len <= c->hdr[i].len);
				CHECK(ev.len > 0);
				memcpy(c->pay[i] + c->got[i], ev.data, ev.len);
				c->got[i] += ev.len;
			} else if (ev.type == NC_EV_END) {
				int i = c->nfr - 1;

				CHECK(i >= 0);
				CHECK_EQ(c->got[i], c->hdr[i].len);
				c->ended[i] = 1;
			}
		}
	} while (off < len);
}

static size_t chunk_all(size_t left, void *arg)
{
	(void)arg;
	return left;
}

static size_t chunk_one(size_t left, void *arg)
{
	(void)left;
	(void)arg;
	return 1;
}

static size_t chunk_fixed(size_t left, void *arg)
{
	(void)left;
	return *(size_t *)arg;
}

static u32 rng_state;
static u32 rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static size_t chunk_random(size_t left, void *arg)
{
	(void)arg;
	return 1 + rnd() % (left < 70 ? left : 70);
}

/* Build a stream of frames; returns length.  Payload byte = f(frame, i). */
static size_t build_stream(u8 *out, const u8 *types, const u32 *lens, int n)
{
	size_t off = 0;
	int i;
	u32 k;

	for (i = 0; i < n; i++) {
		struct nc_hdr h = mk(types[i], lens[i]);

		h.sport = (u16)i;
		nc_hdr_encode(&h, out + off);
		off += NC_HDR_LEN;
		for (k = 0; k < lens[i]; k++)
			out[off++] = (u8)(i * 31 + k);
	}
	return off;
}

static void verify_stream(struct collected *c, const u8 *types,
			  const u32 *lens, int n)
{
	int i;
	u32 k;

	CHECK_EQ(c->err, 0);
	CHECK_EQ(c->nfr, n);
	for (i = 0; i < n && i < c->nfr; i++) {
		CHECK_EQ(c->hdr[i].type, types[i]);
		CHECK_EQ(c->hdr[i].sport, i);
		CHECK_EQ(c->hdr[i].len, lens[i]);
		CHECK_EQ(c->got[i], lens[i]);
		CHECK(c->ended[i]);
		for (k = 0; k < lens[i] && k < c->got[i]; k++)
			if (c->pay[i][k] != (u8)(i * 31 + k)) {
				CHECK(0);
				break;
			}
	}
}

static const u8 s_types[] = { NC_T_HELLO, NC_T_CONNECT, NC_T_DATA, NC_T_DATA,
			      NC_T_CREDIT, NC_T_DATA, NC_T_CLOSE, NC_T_RESET };
static const u32 s_lens[] = { 0, 0, 1, 300, 0, NC_MAX_PAYLOAD, 0, 0 };
#define S_N 8

NC_TEST(parser_merged_single_buffer)
{
	static u8 buf[S_N * NC_HDR_LEN + 70000];
	struct collected c = { 0 };
	struct nc_parser p;
	size_t len = build_stream(buf, s_types, s_lens, S_N);

	nc_parser_init(&p);
	feed_all(&p, &c, buf, len, chunk_all, NULL);
	verify_stream(&c, s_types, s_lens, S_N);
	CHECK_EQ(p.frames, S_N);
	CHECK_EQ(p.bytes, len);
	collect_free(&c);
}

NC_TEST(parser_byte_by_byte)
{
	static u8 buf[S_N * NC_HDR_LEN + 70000];
	struct collected c = { 0 };
	struct nc_parser p;
	size_t len = build_stream(buf, s_types, s_lens, S_N);

	nc_parser_init(&p);
	feed_all(&p, &c, buf, len, chunk_one, NULL);
	verify_stream(&c, s_types, s_lens, S_N);
	collect_free(&c);
}

NC_TEST(parser_every_fixed_chunk_size)
{
	static const u8 t[] = { NC_T_DATA, NC_T_CONNECT, NC_T_DATA, NC_T_CLOSE };
	static const u32 l[] = { 5, 0, 47, 0 };
	u8 buf[4 * NC_HDR_LEN + 52];
	size_t len = build_stream(buf, t, l, 4), cs;

	for (cs = 1; cs <= len; cs++) {
		struct collected c = { 0 };
		struct nc_parser p;

		nc_parser_init(&p);
		feed_all(&p, &c, buf, len, chunk_fixed, &cs);
		verify_stream(&c, t, l, 4);
		collect_free(&c);
	}
}

NC_TEST(parser_every_two_way_split)
{
	static const u8 t[] = { NC_T_DATA, NC_T_ACCEPT, NC_T_DATA };
	static const u32 l[] = { 30, 0, 3 };
	u8 buf[3 * NC_HDR_LEN + 33];
	size_t len = build_stream(buf, t, l, 3), cut;

	for (cut = 0; cut <= len; cut++) {
		struct collected c = { 0 };
		struct nc_parser p;

		nc_parser_init(&p);
		feed_all(&p, &c, buf, cut, chunk_all, NULL);
		feed_all(&p, &c, buf + cut, len - cut, chunk_all, NULL);
		verify_stream(&c, t, l, 3);
		collect_free(&c);
	}
}

NC_TEST(parser_random_chunks)
{
	static u8 buf[40 * (NC_HDR_LEN + 2000)];
	u8 t[40];
	u32 l[40];
	int round, i;

	rng_state = 12345;
	for (round = 0; round < 200; round++) {
		struct collected c = { 0 };
		struct nc_parser p;
		size_t len;

		for (i = 0; i < 40; i++) {
			t[i] = (u8)(NC_T_HELLO + rnd() % (NC_T_MAX_V1 - 1));
			l[i] = t[i] == NC_T_DATA ? 1 + rnd() % 2000 : 0;
		}
		len = build_stream(buf, t, l, 40);
		nc_parser_init(&p);
		feed_all(&p, &c, buf, len, chunk_random, NULL);
		verify_stream(&c, t, l, 40);
		collect_free(&c);
	}
}

NC_TEST(parser_bad_magic_detected_early)
{
	struct nc_parser p;
	struct nc_event ev;
	u8 junk[2] = { 'G', 'E' };
	size_t n;

	nc_parser_init(&p);
	n = nc_parser_feed(&p, junk, 1, &ev);
	CHECK_EQ(n, 1);
	CHECK_EQ(ev.type, NC_EV_NEED_MORE);
	n = nc_parser_feed(&p, junk + 1, 1, &ev);
	CHECK_EQ(n, 1);
	CHECK_EQ(p.bytes, 2);
	CHECK_EQ(ev.type, NC_EV_ERROR);
	CHECK_EQ(ev.err, NC_WERR_MAGIC);
	/* sticky */
	n = nc_parser_feed(&p, junk, 2, &ev);
	CHECK_EQ(n, 0);
	CHECK_EQ(ev.type, NC_EV_ERROR);
	CHECK_EQ(ev.err, NC_WERR_MAGIC);
}

static int parse_one_header_err(const u8 *b)
{
	struct nc_parser p;
	struct nc_event ev;

	nc_parser_init(&p);
	nc_parser_feed(&p, b, NC_HDR_LEN, &ev);
	return ev.type == NC_EV_ERROR ? ev.err : -1;
}

NC_TEST(parser_header_errors)
{
	struct nc_hdr h = mk(NC_T_DATA, 10);
	u8 b[NC_HDR_LEN];

	nc_hdr_encode(&h, b);
	CHECK_EQ(parse_one_header_err(b), -1);
	b[2] = 9;
	CHECK_EQ(parse_one_header_err(b), NC_WERR_VERSION);
	nc_hdr_encode(&h, b);
	b[3] = 0;
	CHECK_EQ(parse_one_header_err(b), NC_WERR_TYPE);
	nc_hdr_encode(&h, b);
	b[4] = 0x80;
	CHECK_EQ(parse_one_header_err(b), NC_WERR_FLAGS);
	nc_hdr_encode(&h, b);
	b[7] = 1;
	CHECK_EQ(parse_one_header_err(b), NC_WERR_RSVD);
	h.len = NC_MAX_PAYLOAD + 1;
	nc_hdr_encode(&h, b);
	CHECK_EQ(parse_one_header_err(b), NC_WERR_LEN);
	h.len = 0;
	nc_hdr_encode(&h, b);
	CHECK_EQ(parse_one_header_err(b), NC_WERR_LEN);
}

NC_TEST(parser_error_after_good_frames)
{
	u8 buf[2 * NC_HDR_LEN + 4 + 3];
	struct nc_hdr h = mk(NC_T_DATA, 4);
	struct collected c = { 0 };
	struct nc_parser p;

	nc_hdr_encode(&h, buf);
	memset(buf + NC_HDR_LEN, 0xaa, 4);
	h = mk(NC_T_CLOSE, 0);
	nc_hdr_encode(&h, buf + NC_HDR_LEN + 4);
	memcpy(buf + 2 * NC_HDR_LEN + 4, "XYZ", 3);
	nc_parser_init(&p);
	feed_all(&p, &c, buf, sizeof(buf), chunk_all, NULL);
	CHECK_EQ(c.nfr, 2);
	CHECK(c.ended[0] && c.ended[1]);
	CHECK_EQ(c.err, NC_WERR_MAGIC);
	collect_free(&c);
}

NC_TEST(parser_empty_feeds)
{
	struct nc_parser p;
	struct nc_event ev;
	struct nc_hdr h = mk(NC_T_DATA, 2);
	u8 b[NC_HDR_LEN + 2];

	nc_parser_init(&p);
	CHECK_EQ(nc_parser_feed(&p, NULL, 0, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_NEED_MORE);
	nc_hdr_encode(&h, b);
	b[NC_HDR_LEN] = 1;
	b[NC_HDR_LEN + 1] = 2;
	CHECK_EQ(nc_parser_feed(&p, b, NC_HDR_LEN, &ev), NC_HDR_LEN);
	CHECK_EQ(ev.type, NC_EV_HDR);
	CHECK_EQ(nc_parser_feed(&p, NULL, 0, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_NEED_MORE);
	CHECK_EQ(nc_parser_feed(&p, b + NC_HDR_LEN, 2, &ev), 2);
	CHECK_EQ(ev.type, NC_EV_DATA);
	CHECK_EQ(ev.len, 2);
	CHECK_EQ(nc_parser_feed(&p, NULL, 0, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_END);
	CHECK_EQ(nc_parser_feed(&p, NULL, 0, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_NEED_MORE);
	CHECK_EQ(p.frames, 1);
}

NC_TEST(parser_advance_zero_copy)
{
	struct nc_parser p;
	struct nc_event ev;
	struct nc_hdr h = mk(NC_T_DATA, 100);
	u8 b[NC_HDR_LEN + 1];

	nc_parser_init(&p);
	CHECK_EQ(nc_parser_payload_left(&p), 0);
	CHECK_EQ(nc_parser_advance(&p, 5), 0);	/* not in a payload */
	nc_hdr_encode(&h, b);
	CHECK_EQ(nc_parser_feed(&p, b, NC_HDR_LEN, &ev), NC_HDR_LEN);
	CHECK_EQ(ev.type, NC_EV_HDR);
	CHECK_EQ(nc_parser_payload_left(&p), 100);
	CHECK_EQ(nc_parser_advance(&p, 60), 60);
	CHECK_EQ(nc_parser_payload_left(&p), 40);
	/* mixing: 10 bytes through feed, the rest through advance */
	memset(b, 7, sizeof(b));
	CHECK_EQ(nc_parser_feed(&p, b, 1, &ev), 1);
	CHECK_EQ(ev.type, NC_EV_DATA);
	CHECK_EQ(nc_parser_advance(&p, 1000), 39);	/* clamped */
	CHECK_EQ(nc_parser_payload_left(&p), 0);
	CHECK_EQ(nc_parser_advance(&p, 1), 0);
	CHECK_EQ(nc_parser_feed(&p, NULL, 0, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_END);
	CHECK_EQ(p.frames, 1);
	CHECK_EQ(p.bytes, NC_HDR_LEN + 100);
	/* after an error nothing advances */
	b[0] = 0;
	b[1] = 0;
	nc_parser_feed(&p, b, 2, &ev);
	CHECK_EQ(ev.type, NC_EV_ERROR);
	CHECK_EQ(nc_parser_advance(&p, 1), 0);
}

static const struct nc_test_case cases[] = {
	NC_CASE(compat_byte_order_and_seq),
	NC_CASE(encode_layout),
	NC_CASE(roundtrip_all_types),
	NC_CASE(validate_errors),
	NC_CASE(parser_merged_single_buffer),
	NC_CASE(parser_byte_by_byte),
	NC_CASE(parser_every_fixed_chunk_size),
	NC_CASE(parser_every_two_way_split),
	NC_CASE(parser_random_chunks),
	NC_CASE(parser_bad_magic_detected_early),
	NC_CASE(parser_header_errors),
	NC_CASE(parser_error_after_good_frames),
	NC_CASE(parser_empty_feeds),
	NC_CASE(parser_advance_zero_copy),
};

void suite_wire(void)
{
	nc_run_suite("wire", cases, sizeof(cases) / sizeof(cases[0]));
}
