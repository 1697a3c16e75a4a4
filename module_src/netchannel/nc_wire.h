/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_wire.h - NetChannel framing on the channel byte stream.
 *
 * Every frame is a fixed 24-byte header followed by "len" payload bytes.
 * All multi-byte fields are big endian.
 *
 *   0      2   3    4      6      8      10     12        16     20      24
 *   +------+---+----+------+------+------+------+---------+------+-------+
 *   |magic |ver|type|flags | rsvd |sport |dport | conn_id | len  |credit |
 *   +------+---+----+------+------+------+------+---------+------+-------+
 *
 * sport/dport are virtual-socket ports as seen by the sender of the frame.
 * conn_id is chosen by the connecting side and echoed by both sides; it
 * lets a receiver drop frames that belong to an older incarnation of the
 * same (peer, sport, dport) tuple.
 * credit is an absolute 32-bit (wrapping) byte offset up to which the
 * sender of the frame allows its peer to send DATA on this connection
 * (meaningful in CONNECT, ACCEPT and CREDIT frames).
 *
 * Wire version 2 keeps the 24-byte fixed part (version byte 2) and adds a
 * 4-byte, type-specific extension right after it, before any payload:
 *
 *   HELLO    vmask  bit v set = the sender speaks wire version v
 *   CONNECT  daddr  IPv4 destination the connecting side asked for (the
 *                   destination port is the header's dport)
 *   DATA     seq    byte offset of the first payload byte in the stream
 *   CLOSE    seq    final offset: one past the last byte sent
 *   ACK      seq    cumulative: every byte before it was received in order
 *
 * ACCEPT, RESET, CREDIT and AUTH have no extension; ACK and AUTH exist
 * only in v2.
 *
 * Channel authentication (v2, when the hosts share a cluster key): the
 * connector's HELLO carries flag AUTH and a payload (key id, nonce); the
 * acceptor answers on the same TCP connection with AUTH (its nonce and
 * its MAC); the connector sends AUTH (its MAC) as the channel's second
 * frame.  Every other frame carries no payload except DATA.
 * Offsets are 32-bit and wrap (RFC 1982 comparisons, see nc_seq_*()).
 * "len" is the payload length only; the extension is part of the header.
 *
 * HELLO is always sent as a version 2 frame by hosts that speak version 2
 * or later (its layout is frozen), so any two such hosts can read each
 * other's HELLO and agree on the highest version both speak.  A version 1
 * HELLO means the sender speaks version 1 only.
 */
#ifndef _NC_WIRE_H
#define _NC_WIRE_H

#include "nc_compat.h"

#define NC_WIRE_MAGIC		0x4e43	/* "NC" */
/* what nc_hdr_encode() writes; the module speaks NC_DP_VERSION (nc_impl.h) */
#define NC_WIRE_VERSION		1
#define NC_WIRE_V1		1
#define NC_WIRE_V2		2
#define NC_WIRE_VMAX		2	/* highest version this code knows */
#define NC_VBIT(v)		(1u << (v))
#define NC_VMASK_KNOWN		(NC_VBIT(NC_WIRE_V1) | NC_VBIT(NC_WIRE_V2))
#define NC_HDR_LEN		24	/* fixed part (the whole v1 header) */
#define NC_HDR_EXT_LEN		4	/* v2 extension, types that have one */
#define NC_HDR_MAX		(NC_HDR_LEN + NC_HDR_EXT_LEN)
#define NC_MAX_PAYLOAD		65536u

enum nc_frame_type {
	NC_T_HELLO	= 1,	/* first frame on a channel: who/which channel */
	NC_T_CONNECT	= 2,	/* open a virtual connection (like SYN) */
	NC_T_ACCEPT	= 3,	/* connection accepted (like SYN-ACK) */
	NC_T_RESET	= 4,	/* refuse or abort a connection (like RST) */
	NC_T_DATA	= 5,	/* stream payload */
	NC_T_CLOSE	= 6,	/* sender will send no more data (like FIN) */
	NC_T_CREDIT	= 7,	/* window update */
	NC_T_ACK	= 8,	/* v2: cumulative receive offset */
	NC_T_AUTH	= 9,	/* v2: channel authentication (nc_auth.c) */
	NC_T_MAX	= 10,
};

#define NC_T_MAX_V1		NC_T_ACK	/* v1 types are below this */

/* flags */
#define NC_F_LATENCY		0x0001	/* frame/channel is latency class */
#define NC_F_AUTH		0x0002	/* HELLO: the sender authenticates */
/*
 * CONNECT from a host to itself, from a loopback address (127.0.0.1, as
 * TCP's source for 127/8): the acceptor reports that as the peer's
 * address, not the host's table address.  Only on the channels of a host
 * to itself, so both ends are the same module.
 */
#define NC_F_LOOPBACK		0x0004
/*
 * ACK only: answer with an ACK once every byte before the offset in this
 * frame's credit field has come (at once if it has); RESET if the
 * connection is unknown.  The answer never carries PROBE.
 */
#define NC_F_PROBE		0x0008
/* DATA only: a copy sent again (its first may have come) */
#define NC_F_RTX		0x0010
#define NC_F_KNOWN		(NC_F_LATENCY | NC_F_AUTH | NC_F_LOOPBACK | \
				 NC_F_PROBE | NC_F_RTX)

/*
 * Capabilities, in a v2 HELLO's credit field (which HELLO does not
 * otherwise use, and which hosts that predate them send as 0 and never
 * read).  NC_CAP_ACK: the sender acknowledges DATA with ACK frames and
 * understands NC_F_PROBE and NC_F_RTX.  A host sends those flags, which
 * an older peer refuses as unknown, and keeps DATA until acknowledged,
 * only on connections set up over a channel whose HELLO had the bit.
 */
#define NC_CAP_ACK		0x00000001u
#define NC_CAPS_KNOWN		NC_CAP_ACK

/* payloads of the authentication frames (lengths checked by the codec) */
#define NC_AUTH_ID_LEN		8	/* public tag of a cluster key */
#define NC_AUTH_NONCE_LEN	16
#define NC_AUTH_MAC_LEN		32	/* HMAC-SHA256 */
/* HELLO with NC_F_AUTH: key id, connector's nonce */
#define NC_AUTH_HELLO_LEN	(NC_AUTH_ID_LEN + NC_AUTH_NONCE_LEN)
/* AUTH from the acceptor: its nonce, its MAC */
#define NC_AUTH_CHALLENGE_LEN	(NC_AUTH_NONCE_LEN + NC_AUTH_MAC_LEN)
/* AUTH from the connector: its MAC */
#define NC_AUTH_PROOF_LEN	NC_AUTH_MAC_LEN

struct nc_hdr {
	u16 magic;
	u8 version;
	u8 type;
	u16 flags;
	u16 rsvd;
	u16 sport;
	u16 dport;
	u32 conn_id;
	u32 len;
	u32 credit;
	/* v2 extension (zero in v1 headers) */
	u32 vmask;	/* HELLO */
	u32 daddr;	/* CONNECT, host byte order */
	u32 seq;	/* DATA, CLOSE, ACK */
};

enum nc_wire_err {
	NC_WERR_NONE = 0,
	NC_WERR_MAGIC,
	NC_WERR_VERSION,
	NC_WERR_TYPE,
	NC_WERR_FLAGS,
	NC_WERR_RSVD,
	NC_WERR_LEN,
	NC_WERR_VMASK,
	NC_WERR_ADDR,
	NC_WERR_MAX,
};

const char *nc_wire_strerror(int err);

/* Fill magic/version 1 and write the header into buf[NC_HDR_LEN]. */
void nc_hdr_encode(const struct nc_hdr *h, u8 *buf);
/* Decode the fixed part without validation; the v2 fields are zeroed. */
void nc_hdr_decode(const u8 *buf, struct nc_hdr *h);
/* Version 1 only: NC_WERR_NONE or the first problem found. */
int nc_hdr_validate(const struct nc_hdr *h);

/*
 * Versioned codec.  nc_hdr_len() is the header length of a frame of this
 * version and type (fixed part plus extension), 0 if there is no such
 * frame.  nc_hdr_encode_v() writes h->version's layout into buf[size]
 * and returns the bytes written, 0 (nothing written) if h->version/type
 * do not exist or size is too small.  nc_hdr_validate_v() accepts only
 * the versions in vmask.  nc_hdr_parse() decodes and validates one header
 * from buf[size]: the header length when complete and valid, 0 when more
 * bytes are needed, or -NC_WERR_* as soon as the bytes seen are bad (magic
 * at 2 bytes, version at 3, type at 4, the rest of the fixed part at 24,
 * the extension when complete).  *h is undefined unless it succeeded.
 */
u32 nc_hdr_len(u8 version, u8 type);
/* Set the v2 extension field of h's type (vmask, daddr or seq) to v. */
void nc_hdr_ext_set(struct nc_hdr *h, u32 v);
u32 nc_hdr_encode_v(const struct nc_hdr *h, u8 *buf, u32 size);
int nc_hdr_validate_v(const struct nc_hdr *h, u32 vmask);
int nc_hdr_parse(const u8 *buf, u32 size, u32 vmask, struct nc_hdr *h);

/*
 * Version negotiation.  Each side sends HELLO with the versions it speaks
 * (nc_hello_init()); on the peer's HELLO, nc_wire_negotiate() picks the
 * highest version in both sets, so both ends reach the same answer.
 * Returns NC_NEG_OK and *version, or a reason for refusing the peer that
 * the caller logs with nc_neg_strerror().
 */
enum nc_neg_result {
	NC_NEG_OK = 0,
	NC_NEG_NOT_HELLO,	/* the frame is not a HELLO */
	NC_NEG_LOCAL_MASK,	/* our own set is empty or has unknown versions */
	NC_NEG_PEER_MASK,	/* the peer's set is empty or malformed */
	NC_NEG_PEER_V1_ONLY,	/* the peer speaks only version 1 */
	NC_NEG_NO_COMMON,	/* no version in common */
	NC_NEG_MAX,
};

void nc_hello_init(struct nc_hdr *h, u32 local_vmask, u16 index,
		   bool latency);
int nc_wire_negotiate(u32 local_vmask, const struct nc_hdr *hello,
		      u8 *version);
const char *nc_neg_strerror(int res);

/*
 * Serial-number arithmetic on 32-bit offsets (RFC 1982).  Two offsets
 * exactly 2^31 apart are not comparable: every ordering test is false
 * for them.  Offsets of one connection never get that far apart (a
 * window is at most NC_WIN_MAX = 2^30 bytes).
 */
static inline bool nc_seq_lt(u32 a, u32 b)
{
	u32 d = b - a;

	return d != 0 && d < 0x80000000u;
}

static inline bool nc_seq_gt(u32 a, u32 b)
{
	return nc_seq_lt(b, a);
}

static inline bool nc_seq_le(u32 a, u32 b)
{
	return a == b || nc_seq_lt(a, b);
}

static inline bool nc_seq_ge(u32 a, u32 b)
{
	return a == b || nc_seq_lt(b, a);
}

/*
 * Incremental parser.  Feed it bytes in arbitrary pieces; each call
 * consumes some prefix of the input and reports at most one event:
 *
 *   NC_EV_NEED_MORE  all input consumed, nothing to report
 *   NC_EV_HDR        a complete, valid header is in ev->hdr
 *   NC_EV_DATA       ev->data/ev->len is the next piece of the payload
 *   NC_EV_END        the current frame is complete
 *   NC_EV_ERROR      fatal (ev->err); the stream is unusable from now on
 *
 * For each frame the sequence is HDR, zero or more DATA, END.
 * Errors are sticky: every later call returns NC_EV_ERROR again.
 */
enum nc_event_type {
	NC_EV_NEED_MORE = 0,
	NC_EV_HDR,
	NC_EV_DATA,
	NC_EV_END,
	NC_EV_ERROR,
};

struct nc_event {
	int type;
	int err;
	const struct nc_hdr *hdr;
	const u8 *data;
	u32 len;
};

struct nc_parser {
	u8 hbuf[NC_HDR_MAX];
	u32 hfill;
	u32 vmask;	/* header versions accepted */
	u32 pay_left;
	int state;
	int err;
	struct nc_hdr hdr;
	u64 frames;
	u64 bytes;
};

/* nc_parser_init() accepts version 1 frames only, as the data path does. */
void nc_parser_init(struct nc_parser *p);
/*
 * Accept the versions in vmask (a new channel: NC_VMASK_KNOWN, so the
 * peer's HELLO can be read whichever version it is); after negotiation
 * nc_parser_set_vmask(p, NC_VBIT(version)) pins the channel to the agreed
 * version from the next header on.  Unknown bits are ignored.
 */
void nc_parser_init_vmask(struct nc_parser *p, u32 vmask);
void nc_parser_set_vmask(struct nc_parser *p, u32 vmask);
size_t nc_parser_feed(struct nc_parser *p, const u8 *buf, size_t len,
		      struct nc_event *ev);
/*
 * Zero-copy receive support: while a payload is pending, the caller may
 * read up to nc_parser_payload_left() bytes straight into its own buffer
 * and then account them with nc_parser_advance(), which returns the bytes
 * accepted (never more than were pending).  The END event is reported by
 * the next nc_parser_feed() call as usual.
 */
u32 nc_parser_payload_left(const struct nc_parser *p);
u32 nc_parser_advance(struct nc_parser *p, u32 n);

#endif /* _NC_WIRE_H */
