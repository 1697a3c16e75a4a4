// SPDX-License-Identifier: GPL-2.0
/*
 * Unit tests for wire version 2 in nc_wire.c: the versioned codec, every
 * truncation, bad versions, HELLO negotiation, the stream parser with
 * extensions, and serial-number comparisons across the wrap.
 */
#include <stdlib.h>
#include "nc_test.h"
#include "../../netchannel/nc_wire.h"

static const u8 v2_types[] = { NC_T_HELLO, NC_T_CONNECT, NC_T_ACCEPT,
			       NC_T_RESET, NC_T_DATA, NC_T_CLOSE,
			       NC_T_CREDIT, NC_T_ACK };
#define V2_NTYPES ((int)sizeof(v2_types))

static struct nc_hdr mk2(u8 type, u32 len)
{
	struct nc_hdr h = {
		.magic = NC_WIRE_MAGIC, .version = NC_WIRE_V2, .type = type,
		.sport = 4321, .dport = 7001, .conn_id = 0x0badf00d,
		.len = len, .credit = 0x11223344,
	};

	if (type == NC_T_HELLO)
		h.vmask = NC_VBIT(1) | NC_VBIT(2);
	else if (type == NC_T_CONNECT)
		h.daddr = 0xc6120001;		/* 198.18.0.1 */
	else if (type == NC_T_DATA || type == NC_T_CLOSE || type == NC_T_ACK)
		h.seq = 0xfffffff0u + type;
	return h;
}

NC_TEST(v2_lengths)
{
	int t;

	for (t = 0; t < 256; t++) {
		bool v1 = t >= NC_T_HELLO && t < NC_T_MAX_V1;
		bool ext = t == NC_T_HELLO || t == NC_T_CONNECT ||
			   t == NC_T_DATA || t == NC_T_CLOSE || t == NC_T_ACK;
		bool v2 = t >= NC_T_HELLO && t < NC_T_MAX;

		CHECK_EQ(nc_hdr_len(NC_WIRE_V1, (u8)t), v1 ? NC_HDR_LEN : 0);
		CHECK_EQ(nc_hdr_len(NC_WIRE_V2, (u8)t),
			 !v2 ? 0 : ext ? NC_HDR_MAX : NC_HDR_LEN);
		CHECK_EQ(nc_hdr_len(0, (u8)t), 0);
		CHECK_EQ(nc_hdr_len(3, (u8)t), 0);
		CHECK_EQ(nc_hdr_len(255, (u8)t), 0);
	}
}

NC_TEST(v2_encode_layout)
{
	struct nc_hdr h = mk2(NC_T_DATA, 0x10);
	u8 b[NC_HDR_MAX + 4];
	static const u8 want[NC_HDR_MAX] = {
		0x4e, 0x43, 2, NC_T_DATA, 0, 0, 0, 0, 0x10, 0xe1, 0x1b,
		0x59, 0x0b, 0xad, 0xf0, 0x0d, 0, 0, 0, 0x10, 0x11, 0x22,
		0x33, 0x44, 0xff, 0xff, 0xff, 0xf5,
	};

	memset(b, 0xa5, sizeof(b));
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	CHECK(!memcmp(b, want, sizeof(want)));
	CHECK(b[NC_HDR_MAX] == 0xa5);		/* nothing beyond the header */
	/* CONNECT's extension is the destination address */
	h = mk2(NC_T_CONNECT, 0);
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	CHECK(b[24] == 198 && b[25] == 18 && b[26] == 0 && b[27] == 1);
	/* a type without extension is 24 bytes in v2 too */
	h = mk2(NC_T_CREDIT, 0);
	memset(b, 0xa5, sizeof(b));
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_LEN);
	CHECK(b[2] == 2 && b[NC_HDR_LEN] == 0xa5);
	/* the v1 encoder is unchanged: version 1, 24 bytes */
	h = mk2(NC_T_DATA, 1);
	h.version = NC_WIRE_V1;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_LEN);
	CHECK(b[2] == 1);
}

NC_TEST(v2_roundtrip_all_types)
{
	u8 b[NC_HDR_MAX];
	struct nc_hdr h, d;
	int i, len;

	for (i = 0; i < V2_NTYPES; i++) {
		h = mk2(v2_types[i], v2_types[i] == NC_T_DATA ?
			NC_MAX_PAYLOAD : 0);
		len = (int)nc_hdr_encode_v(&h, b, sizeof(b));
		CHECK_EQ(len, nc_hdr_len(NC_WIRE_V2, h.type));
		memset(&d, 0x5a, sizeof(d));
		CHECK_EQ(nc_hdr_parse(b, (u32)len, NC_VMASK_KNOWN, &d), len);
		CHECK_EQ(d.magic, NC_WIRE_MAGIC);
		CHECK_EQ(d.version, 2);
		CHECK_EQ(d.type, h.type);
		CHECK_EQ(d.sport, h.sport);
		CHECK_EQ(d.dport, h.dport);
		CHECK_EQ(d.conn_id, h.conn_id);
		CHECK_EQ(d.len, h.len);
		CHECK_EQ(d.credit, h.credit);
		CHECK_EQ(d.vmask, h.vmask);
		CHECK_EQ(d.daddr, h.daddr);
		CHECK_EQ(d.seq, h.seq);
		/* also with a parser pinned to v2, not with one pinned to v1 */
		CHECK_EQ(nc_hdr_parse(b, (u32)len, NC_VBIT(2), &d), len);
		CHECK_EQ(nc_hdr_parse(b, (u32)len, NC_VBIT(1), &d),
			 -NC_WERR_VERSION);
		/* bytes after a 24-byte header are not taken as extension */
		if (len < NC_HDR_MAX)
			CHECK_EQ(nc_hdr_parse(b, NC_HDR_MAX, NC_VBIT(2), &d),
				 len);
	}
	/* a v1 header parses with the versioned parser as well */
	h = mk2(NC_T_CLOSE, 0);
	h.version = NC_WIRE_V1;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_LEN);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_MAX, NC_VMASK_KNOWN, &d), NC_HDR_LEN);
	CHECK_EQ(d.version, 1);
	CHECK_EQ(d.seq, 0);			/* v1 CLOSE has no offset */
}

/* Every proper prefix of every header is "need more", never an error. */
NC_TEST(v2_every_truncation)
{
	u8 b[NC_HDR_MAX], c[NC_HDR_MAX + 1];
	struct nc_hdr h, d;
	u32 k, len;
	int i, v;

	for (v = NC_WIRE_V1; v <= NC_WIRE_V2; v++) {
		for (i = 0; i < V2_NTYPES; i++) {
			h = mk2(v2_types[i], v2_types[i] == NC_T_DATA ? 9 : 0);
			h.version = (u8)v;
			len = nc_hdr_encode_v(&h, b, sizeof(b));
			if (v == 1 && h.type == NC_T_ACK) {
				CHECK_EQ(len, 0);
				continue;
			}
			CHECK(len == NC_HDR_LEN || len == NC_HDR_MAX);
			for (k = 0; k < len; k++) {
				CHECK_EQ(nc_hdr_parse(b, k, NC_VMASK_KNOWN, &d), 0);
				/* the encoder refuses a short buffer, writes nothing */
				memset(c, 0xa5, sizeof(c));
				CHECK_EQ(nc_hdr_encode_v(&h, c, k), 0);
				CHECK(c[0] == 0xa5);
			}
			CHECK_EQ(nc_hdr_parse(b, len, NC_VMASK_KNOWN, &d),
				 (int)len);
		}
	}
}

/* Bad bytes are reported as soon as the prefix shows them. */
NC_TEST(v2_bad_versions_and_types)
{
	struct nc_hdr h = mk2(NC_T_DATA, 1), d;
	u8 b[NC_HDR_MAX];
	u32 k;

	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	b[0] = 0x4f;
	CHECK_EQ(nc_hdr_parse(b, 1, NC_VMASK_KNOWN, &d), 0);
	CHECK_EQ(nc_hdr_parse(b, 2, NC_VMASK_KNOWN, &d), -NC_WERR_MAGIC);
	b[0] = 0x4e;
	for (k = 0; k < 256; k++) {
		b[2] = (u8)k;
		CHECK_EQ(nc_hdr_parse(b, 3, NC_VMASK_KNOWN, &d),
			 k == 1 || k == 2 ? 0 : -NC_WERR_VERSION);
		/* a channel pinned to v2 refuses v1 frames and vice versa */
		CHECK_EQ(nc_hdr_parse(b, 3, NC_VBIT(2), &d),
			 k == 2 ? 0 : -NC_WERR_VERSION);
		CHECK_EQ(nc_hdr_parse(b, 3, NC_VBIT(1), &d),
			 k == 1 ? 0 : -NC_WERR_VERSION);
		CHECK_EQ(nc_hdr_parse(b, 3, 0, &d), -NC_WERR_VERSION);
	}
	b[2] = 2;
	for (k = 0; k < 256; k++) {
		b[3] = (u8)k;
		CHECK_EQ(nc_hdr_parse(b, 4, NC_VMASK_KNOWN, &d),
			 k >= 1 && k <= 9 ? 0 : -NC_WERR_TYPE);
	}
	b[2] = 1;
	b[3] = NC_T_ACK;			/* ACK does not exist in v1 */
	CHECK_EQ(nc_hdr_parse(b, 4, NC_VMASK_KNOWN, &d), -NC_WERR_TYPE);
	/* encoding a version or type that does not exist writes nothing */
	h.version = 3;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), 0);
	h.version = 0;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), 0);
	h.version = 2;
	h.type = NC_T_MAX;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), 0);
	/* the v1-only validator still refuses v2 */
	h = mk2(NC_T_CREDIT, 0);
	CHECK_EQ(nc_hdr_validate(&h), NC_WERR_VERSION);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VBIT(2)), NC_WERR_NONE);
}

NC_TEST(v2_field_checks)
{
	struct nc_hdr h, d;
	u8 b[NC_HDR_MAX];

	h = mk2(NC_T_HELLO, 0);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.vmask = 0;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_VMASK);
	h.vmask = NC_VBIT(1);			/* v2 HELLO without v2 */
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_VMASK);
	h.vmask = NC_VBIT(0) | NC_VBIT(2);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_VMASK);
	h.vmask = NC_VBIT(2) | NC_VBIT(31);	/* future versions are fine */
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.vmask = 0;
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_MAX, NC_VMASK_KNOWN, &d),
		 -NC_WERR_VMASK);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_LEN, NC_VMASK_KNOWN, &d), 0);

	h = mk2(NC_T_CONNECT, 0);
	h.daddr = 0;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_ADDR);
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_MAX, NC_VMASK_KNOWN, &d),
		 -NC_WERR_ADDR);
	h.daddr = 0x7f000001;
	h.len = 1;				/* only DATA has payload */
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);

	h = mk2(NC_T_ACK, 0);
	h.len = 4;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	/* a bad fixed part is reported at 24 bytes, before the extension */
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_MAX);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_LEN - 1, NC_VMASK_KNOWN, &d), 0);
	CHECK_EQ(nc_hdr_parse(b, NC_HDR_LEN, NC_VMASK_KNOWN, &d),
		 -NC_WERR_LEN);
	h = mk2(NC_T_DATA, 0);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	h.len = NC_MAX_PAYLOAD + 1;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	h.len = 1;
	h.flags = 2;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);
	h.flags = NC_F_LATENCY;
	h.rsvd = 1;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_RSVD);
	CHECK(strcmp(nc_wire_strerror(NC_WERR_VMASK),
		     "HELLO version set invalid") == 0);
	CHECK(strcmp(nc_wire_strerror(NC_WERR_ADDR),
		     "CONNECT destination address invalid") == 0);
}

/*
 * NC_F_LOOPBACK (a host's connection to itself from 127.0.0.1) only on
 * CONNECT; every other type with it is refused, as is an unknown flag.
 */
NC_TEST(v2_loopback_flag)
{
	static const u8 types[] = { NC_T_HELLO, NC_T_ACCEPT, NC_T_RESET,
				    NC_T_DATA, NC_T_CLOSE, NC_T_CREDIT,
				    NC_T_ACK };
	struct nc_hdr h = mk2(NC_T_CONNECT, 0);
	unsigned int i;

	h.flags = NC_F_LOOPBACK;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.flags = NC_F_LOOPBACK | NC_F_LATENCY;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.flags = 0x0020;	/* no flag has this bit */
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);
	for (i = 0; i < sizeof(types); i++) {
		h = mk2(types[i], types[i] == NC_T_DATA ? 10 : 0);
		CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
		h.flags = NC_F_LOOPBACK;
		CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);
	}
}

/*
 * Retransmission's flags: PROBE only on ACK, RTX only on DATA, each with
 * LATENCY too; either on any other type is refused (an older peer
 * refuses both everywhere, so they go only to peers that announce
 * NC_CAP_ACK).  A HELLO's credit field carries the capabilities: any
 * value passes the codec, and it survives a round trip.
 */
NC_TEST(v2_ack_flags)
{
	static const u8 types[] = { NC_T_HELLO, NC_T_CONNECT, NC_T_ACCEPT,
				    NC_T_RESET, NC_T_DATA, NC_T_CLOSE,
				    NC_T_CREDIT, NC_T_ACK };
	struct nc_hdr h, d;
	u8 b[NC_HDR_MAX];
	unsigned int i;

	/* each flag, alone and with LATENCY, and the one type that takes it */
	static const struct { u16 flags; u8 type; } ok[] = {
		{ NC_F_PROBE, NC_T_ACK }, { NC_F_PROBE | NC_F_LATENCY, NC_T_ACK },
		{ NC_F_RTX, NC_T_DATA }, { NC_F_RTX | NC_F_LATENCY, NC_T_DATA },
	};
	unsigned int j;

	for (i = 0; i < sizeof(types); i++) {
		for (j = 0; j < sizeof(ok) / sizeof(ok[0]); j++) {
			h = mk2(types[i], types[i] == NC_T_DATA ? 10 : 0);
			h.flags = ok[j].flags;
			CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN),
				 types[i] == ok[j].type ? NC_WERR_NONE : NC_WERR_FLAGS);
		}
	}
	h = mk2(NC_T_DATA, 10);
	h.flags = NC_F_RTX | NC_F_PROBE;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);
	h = mk2(NC_T_HELLO, 0);
	h.credit = NC_CAP_ACK | 0x80000000u;	/* bits not known yet pass */
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_LEN + NC_HDR_EXT_LEN);
	CHECK_EQ(nc_hdr_parse(b, sizeof(b), NC_VMASK_KNOWN, &d), (int)(NC_HDR_LEN + NC_HDR_EXT_LEN));
	CHECK_EQ(d.credit, NC_CAP_ACK | 0x80000000u);
}

/*
 * Authentication frames: HELLO carries a payload (key id, nonce) exactly
 * when it has flag AUTH, AUTH carries the acceptor's challenge or the
 * connector's proof, no other frame may carry the flag, and AUTH does not
 * exist in version 1.  The parser hands both payloads over as DATA events.
 */
NC_TEST(v2_auth_frames)
{
	struct nc_hdr h = mk2(NC_T_HELLO, NC_AUTH_HELLO_LEN), d;
	struct nc_parser p;
	struct nc_event ev;
	u8 b[2 * NC_HDR_MAX + NC_AUTH_HELLO_LEN + NC_AUTH_PROOF_LEN];
	u32 len, got = 0, n;
	size_t used;

	CHECK_EQ(NC_AUTH_HELLO_LEN, 24);
	CHECK_EQ(NC_AUTH_CHALLENGE_LEN, 48);
	CHECK_EQ(NC_AUTH_PROOF_LEN, 32);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	h.flags = NC_F_AUTH | NC_F_LATENCY;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.len = 0;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	h.len = NC_AUTH_HELLO_LEN + 1;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);

	h = mk2(NC_T_AUTH, NC_AUTH_CHALLENGE_LEN);
	CHECK_EQ(nc_hdr_len(NC_WIRE_V2, NC_T_AUTH), NC_HDR_LEN);
	CHECK_EQ(nc_hdr_len(NC_WIRE_V1, NC_T_AUTH), 0);
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h.len = NC_AUTH_PROOF_LEN;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	for (n = 0; n < 100; n++) {
		h.len = n;
		if (n != NC_AUTH_PROOF_LEN && n != NC_AUTH_CHALLENGE_LEN)
			CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_LEN);
	}
	h.len = NC_AUTH_PROOF_LEN;
	h.flags = NC_F_AUTH;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);
	h = mk2(NC_T_CONNECT, 0);
	h.flags = NC_F_AUTH;
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_FLAGS);

	/* HELLO(AUTH) with its payload, then a proof, through the parser */
	h = mk2(NC_T_HELLO, NC_AUTH_HELLO_LEN);
	h.flags = NC_F_AUTH;
	len = nc_hdr_encode_v(&h, b, sizeof(b));
	for (n = 0; n < NC_AUTH_HELLO_LEN; n++)
		b[len++] = (u8)n;
	h = mk2(NC_T_AUTH, NC_AUTH_PROOF_LEN);
	len += nc_hdr_encode_v(&h, b + len, (u32)sizeof(b) - len);
	for (n = 0; n < NC_AUTH_PROOF_LEN; n++)
		b[len++] = (u8)(0xa0 + n);
	CHECK_EQ(len, NC_HDR_MAX + NC_HDR_LEN + NC_AUTH_HELLO_LEN + NC_AUTH_PROOF_LEN);
	nc_parser_init_vmask(&p, NC_VBIT(2));
	for (n = 0; n < len; n += (u32)used) {
		used = nc_parser_feed(&p, b + n, len - n, &ev);
		if (ev.type == NC_EV_DATA) {
			CHECK_EQ(ev.data[0], got < NC_AUTH_HELLO_LEN ? 0 : 0xa0);
			got += ev.len;
		}
		CHECK(ev.type != NC_EV_ERROR);
	}
	nc_parser_feed(&p, b, 0, &ev);		/* the proof's END */
	CHECK_EQ(ev.type, NC_EV_END);
	CHECK_EQ(got, NC_AUTH_HELLO_LEN + NC_AUTH_PROOF_LEN);
	CHECK_EQ(p.frames, 2);
	/* a v1 AUTH does not exist */
	b[2] = 1;
	b[3] = NC_T_AUTH;
	CHECK_EQ(nc_hdr_parse(b, 4, NC_VMASK_KNOWN, &d), -NC_WERR_TYPE);
}

/* ---- negotiation ---- */

static struct nc_hdr hello_of(u32 vmask)
{
	struct nc_hdr h;

	nc_hello_init(&h, vmask, 3, true);
	return h;
}

NC_TEST(neg_hello_init)
{
	struct nc_hdr h = hello_of(NC_VBIT(1));
	u8 b[NC_HDR_MAX];

	CHECK_EQ(h.version, 1);			/* a v1-only host: v1 HELLO */
	CHECK_EQ(h.vmask, 0);
	CHECK_EQ(h.sport, 3);
	CHECK_EQ(h.flags, NC_F_LATENCY);
	CHECK_EQ(nc_hdr_encode_v(&h, b, sizeof(b)), NC_HDR_LEN);
	h = hello_of(NC_VBIT(2));
	CHECK_EQ(h.version, 2);
	CHECK_EQ(h.vmask, NC_VBIT(2));
	CHECK_EQ(nc_hdr_validate_v(&h, NC_VMASK_KNOWN), NC_WERR_NONE);
	h = hello_of(NC_VMASK_KNOWN);
	CHECK_EQ(h.version, 2);
	CHECK_EQ(h.vmask, NC_VMASK_KNOWN);
	nc_hello_init(&h, NC_VBIT(2), 0, false);
	CHECK_EQ(h.flags, 0);
	CHECK_EQ(h.sport, 0);
}

NC_TEST(neg_results)
{
	struct nc_hdr h;
	u8 v = 0;

	/* a v2-only host refuses a v1 peer with its own reason */
	h = hello_of(NC_VBIT(1));
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), &h, &v), NC_NEG_PEER_V1_ONLY);
	CHECK(strcmp(nc_neg_strerror(NC_NEG_PEER_V1_ONLY),
		     "peer speaks only wire version 1") == 0);
	CHECK_EQ(v, 0);				/* untouched on refusal */
	/* a host that still speaks v1 falls back to it */
	CHECK_EQ(nc_wire_negotiate(NC_VMASK_KNOWN, &h, &v), NC_NEG_OK);
	CHECK_EQ(v, 1);
	/* the highest common version wins */
	h = hello_of(NC_VMASK_KNOWN);
	CHECK_EQ(nc_wire_negotiate(NC_VMASK_KNOWN, &h, &v), NC_NEG_OK);
	CHECK_EQ(v, 2);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(1), &h, &v), NC_NEG_OK);
	CHECK_EQ(v, 1);
	/* a future peer (speaks 2 and 5) meets us at 2 */
	h.vmask = NC_VBIT(2) | NC_VBIT(5);
	CHECK_EQ(nc_wire_negotiate(NC_VMASK_KNOWN, &h, &v), NC_NEG_OK);
	CHECK_EQ(v, 2);
	/* nothing in common: a v1-only host meeting a v2-only peer */
	h = hello_of(NC_VBIT(2));
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(1), &h, &v), NC_NEG_NO_COMMON);
	h.vmask = NC_VBIT(5);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), &h, &v), NC_NEG_NO_COMMON);
	/* malformed sets */
	h.vmask = 0;
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), &h, &v), NC_NEG_PEER_MASK);
	h.vmask = NC_VBIT(0) | NC_VBIT(2);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), &h, &v), NC_NEG_PEER_MASK);
	h = hello_of(NC_VBIT(2));
	CHECK_EQ(nc_wire_negotiate(0, &h, &v), NC_NEG_LOCAL_MASK);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(3), &h, &v), NC_NEG_LOCAL_MASK);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(0) | NC_VBIT(2), &h, &v),
		 NC_NEG_LOCAL_MASK);
	h.type = NC_T_DATA;
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), &h, &v), NC_NEG_NOT_HELLO);
	CHECK(strcmp(nc_neg_strerror(NC_NEG_MAX),
		     "invalid negotiation result") == 0);
	CHECK(strcmp(nc_neg_strerror(-1), "invalid negotiation result") == 0);
	CHECK(strcmp(nc_neg_strerror(NC_NEG_OK), "ok") == 0);
}

/* Both ends of every pair of hosts reach the same answer. */
NC_TEST(neg_symmetric)
{
	static const u32 sets[] = { NC_VBIT(1), NC_VBIT(2), NC_VMASK_KNOWN };
	struct nc_hdr ha, hb;
	int i, k, ra, rb;
	u8 va, vb;

	for (i = 0; i < 3; i++) {
		for (k = 0; k < 3; k++) {
			ha = hello_of(sets[i]);
			hb = hello_of(sets[k]);
			va = 0;
			vb = 0;
			ra = nc_wire_negotiate(sets[i], &hb, &va);
			rb = nc_wire_negotiate(sets[k], &ha, &vb);
			CHECK_EQ(ra == NC_NEG_OK, rb == NC_NEG_OK);
			CHECK_EQ(va, vb);
			CHECK_EQ(ra == NC_NEG_OK, (sets[i] & sets[k]) != 0);
		}
	}
}

/* ---- stream parser with version 2 ---- */

struct v2_stream {
	u8 buf[4096];
	size_t len;
	struct nc_hdr hdr[16];
	int n;
};

static void v2_build(struct v2_stream *s)
{
	static const u8 types[] = { NC_T_HELLO, NC_T_CONNECT, NC_T_ACCEPT,
				    NC_T_DATA, NC_T_ACK, NC_T_CREDIT,
				    NC_T_DATA, NC_T_CLOSE, NC_T_RESET };
	u32 k;
	int i;

	s->len = 0;
	s->n = (int)sizeof(types);
	for (i = 0; i < s->n; i++) {
		struct nc_hdr h = mk2(types[i],
				      types[i] == NC_T_DATA ? 100 + i : 0);

		h.sport = (u16)i;
		s->hdr[i] = h;
		s->len += nc_hdr_encode_v(&h, s->buf + s->len,
					  (u32)(sizeof(s->buf) - s->len));
		for (k = 0; k < h.len; k++)
			s->buf[s->len++] = (u8)(i + k);
	}
}

/* Feed buf in pieces of at most chunk bytes; check every frame. */
static int v2_feed_check(const struct v2_stream *s, struct nc_parser *p,
			 size_t split, size_t chunk)
{
	size_t off = 0, end, used;
	int fr = 0, bad = 0;
	u32 got = 0;
	struct nc_event ev;

	while (off < s->len) {
		end = off + chunk;
		if (off < split && end > split)
			end = split;
		if (end > s->len)
			end = s->len;
		for (;;) {
			used = nc_parser_feed(p, s->buf + off, end - off, &ev);
			off += used;
			if (ev.type == NC_EV_NEED_MORE)
				break;
			if (ev.type == NC_EV_ERROR)
				return -1;
			if (ev.type == NC_EV_HDR) {
				if (fr >= s->n ||
				    memcmp(ev.hdr, &s->hdr[fr], sizeof(*ev.hdr)))
					bad++;
				got = 0;
			} else if (ev.type == NC_EV_DATA) {
				u32 k;

				for (k = 0; k < ev.len; k++)
					if (ev.data[k] != (u8)(fr + got + k))
						bad++;
				got += ev.len;
			} else if (ev.type == NC_EV_END) {
				if (got != s->hdr[fr].len)
					bad++;
				fr++;
			}
		}
	}
	/* the END of a frame without payload comes on the next call */
	nc_parser_feed(p, s->buf, 0, &ev);
	if (ev.type == NC_EV_END)
		fr++;
	return bad ? -2 : fr;
}

NC_TEST(v2_parser_every_split_and_chunk)
{
	static struct v2_stream s;
	struct nc_parser p;
	size_t split, chunk;

	v2_build(&s);
	for (split = 0; split <= s.len; split++) {
		nc_parser_init_vmask(&p, NC_VMASK_KNOWN);
		CHECK_EQ(v2_feed_check(&s, &p, split, s.len), s.n);
		CHECK_EQ(p.bytes, s.len);
	}
	for (chunk = 1; chunk <= 64; chunk++) {
		nc_parser_init_vmask(&p, NC_VBIT(2));
		CHECK_EQ(v2_feed_check(&s, &p, 0, chunk), s.n);
		CHECK_EQ(p.frames, s.n);
	}
	/* the module's parser (v1 only) refuses this stream */
	nc_parser_init(&p);
	CHECK_EQ(v2_feed_check(&s, &p, 0, s.len), -1);
	CHECK_EQ(p.err, NC_WERR_VERSION);
}

NC_TEST(v2_parser_extension_error_and_pinning)
{
	struct nc_parser p;
	struct nc_event ev;
	struct nc_hdr h;
	u8 b[2 * NC_HDR_MAX];
	u32 len, k;
	u8 v = 0;

	/* bad extension: error only once the extension is in */
	h = mk2(NC_T_CONNECT, 0);
	h.daddr = 0;
	len = nc_hdr_encode_v(&h, b, sizeof(b));
	nc_parser_init_vmask(&p, NC_VMASK_KNOWN);
	for (k = 0; k < len - 1; k++) {
		CHECK_EQ(nc_parser_feed(&p, b + k, 1, &ev), 1);
		CHECK_EQ(ev.type, NC_EV_NEED_MORE);
	}
	CHECK_EQ(nc_parser_feed(&p, b + k, 1, &ev), 1);
	CHECK_EQ(ev.type, NC_EV_ERROR);
	CHECK_EQ(ev.err, NC_WERR_ADDR);
	CHECK_EQ(nc_parser_feed(&p, b, 1, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_ERROR);

	/* a fresh channel reads the HELLO, negotiates, then pins v2 */
	h = hello_of(NC_VBIT(2));
	len = nc_hdr_encode_v(&h, b, sizeof(b));
	h = mk2(NC_T_CREDIT, 0);
	h.version = NC_WIRE_V1;
	len += nc_hdr_encode_v(&h, b + len, (u32)sizeof(b) - len);
	nc_parser_init_vmask(&p, NC_VMASK_KNOWN);
	CHECK_EQ(nc_parser_feed(&p, b, len, &ev), NC_HDR_MAX);
	CHECK_EQ(ev.type, NC_EV_HDR);
	CHECK_EQ(nc_wire_negotiate(NC_VBIT(2), ev.hdr, &v), NC_NEG_OK);
	CHECK_EQ(v, 2);
	nc_parser_set_vmask(&p, NC_VBIT(v));
	CHECK_EQ(nc_parser_feed(&p, b + NC_HDR_MAX, len - NC_HDR_MAX, &ev), 0);
	CHECK_EQ(ev.type, NC_EV_END);
	/* the v1 frame after the HELLO is now a version error */
	nc_parser_feed(&p, b + NC_HDR_MAX, len - NC_HDR_MAX, &ev);
	CHECK_EQ(ev.type, NC_EV_ERROR);
	CHECK_EQ(ev.err, NC_WERR_VERSION);

	/* unknown bits in a parser's set are dropped */
	nc_parser_init_vmask(&p, ~0u);
	CHECK_EQ(p.vmask, NC_VMASK_KNOWN);
	nc_parser_set_vmask(&p, NC_VBIT(7));
	CHECK_EQ(p.vmask, 0);
}

/* ---- serial-number arithmetic ---- */

NC_TEST(seq_compare_wrap)
{
	static const u32 bases[] = { 0, 1, 0x7fffffffu, 0x80000000u,
				     0xfffffff0u, 0xffffffffu };
	u32 rs = 12345, a, b, d;
	int i;

	for (i = 0; i < 6; i++) {
		a = bases[i];
		CHECK(!nc_seq_lt(a, a) && !nc_seq_gt(a, a));
		CHECK(nc_seq_le(a, a) && nc_seq_ge(a, a));
		CHECK(nc_seq_lt(a, a + 1) && nc_seq_gt(a + 1, a));
		CHECK(nc_seq_lt(a, a + 0x7fffffffu));
		CHECK(nc_seq_gt(a, a - 0x7fffffffu));
		/* exactly half the space apart: undefined, all false */
		b = a + 0x80000000u;
		CHECK(!nc_seq_lt(a, b) && !nc_seq_lt(b, a));
		CHECK(!nc_seq_gt(a, b) && !nc_seq_gt(b, a));
		CHECK(!nc_seq_le(a, b) && !nc_seq_ge(a, b));
	}
	CHECK(nc_seq_lt(0xffffffffu, 0));
	CHECK(nc_seq_lt(0xfffffff0u, 0x10));
	CHECK(nc_seq_gt(0x10, 0xfffffff0u));
	CHECK(nc_seq_le(0xffffff00u, 5) && !nc_seq_ge(0xffffff00u, 5));
	/* agrees with nc_seq_before() wherever both are defined */
	for (i = 0; i < 100000; i++) {
		rs = rs * 1103515245u + 12345u;
		a = rs;
		rs = rs * 1103515245u + 12345u;
		d = rs;
		b = a + d;
		if (d == 0x80000000u)
			continue;
		CHECK_EQ(nc_seq_lt(a, b), nc_seq_before(a, b));
		CHECK_EQ(nc_seq_lt(a, b), !nc_seq_ge(a, b));
		CHECK_EQ(nc_seq_gt(a, b), !nc_seq_le(a, b));
	}
}

static const struct nc_test_case cases[] = {
	NC_CASE(v2_lengths),
	NC_CASE(v2_encode_layout),
	NC_CASE(v2_roundtrip_all_types),
	NC_CASE(v2_every_truncation),
	NC_CASE(v2_bad_versions_and_types),
	NC_CASE(v2_field_checks),
	NC_CASE(v2_auth_frames),
	NC_CASE(v2_loopback_flag),
	NC_CASE(v2_ack_flags),
	NC_CASE(neg_hello_init),
	NC_CASE(neg_results),
	NC_CASE(neg_symmetric),
	NC_CASE(v2_parser_every_split_and_chunk),
	NC_CASE(v2_parser_extension_error_and_pinning),
	NC_CASE(seq_compare_wrap),
};

void suite_wire2(void)
{
	nc_run_suite("wire2", cases, sizeof(cases) / sizeof(cases[0]));
}
