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
 */
#ifndef _NC_WIRE_H
#define _NC_WIRE_H

#include "nc_compat.h"

#define NC_WIRE_MAGIC		0x4e43	/* "NC" */
#define NC_WIRE_VERSION		1
#define NC_HDR_LEN		24
#define NC_MAX_PAYLOAD		65536u

enum nc_frame_type {
	NC_T_HELLO	= 1,	/* first frame on a channel: who/which channel */
	NC_T_CONNECT	= 2,	/* open a virtual connection (like SYN) */
	NC_T_ACCEPT	= 3,	/* connection accepted (like SYN-ACK) */
	NC_T_RESET	= 4,	/* refuse or abort a connection (like RST) */
	NC_T_DATA	= 5,	/* stream payload */
	NC_T_CLOSE	= 6,	/* sender will send no more data (like FIN) */
	NC_T_CREDIT	= 7,	/* window update */
	NC_T_MAX	= 8,
};

/* flags */
#define NC_F_LATENCY		0x0001	/* frame/channel is latency class */
#define NC_F_KNOWN		(NC_F_LATENCY)

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
};

enum nc_wire_err {
	NC_WERR_NONE = 0,
	NC_WERR_MAGIC,
	NC_WERR_VERSION,
	NC_WERR_TYPE,
	NC_WERR_FLAGS,
	NC_WERR_RSVD,
	NC_WERR_LEN,
	NC_WERR_MAX,
};

const char *nc_wire_strerror(int err);

/* Fill magic/version and write the header into buf[NC_HDR_LEN]. */
void nc_hdr_encode(const struct nc_hdr *h, u8 *buf);
/* Decode without validation. */
void nc_hdr_decode(const u8 *buf, struct nc_hdr *h);
/* Returns NC_WERR_NONE or the first problem found. */
int nc_hdr_validate(const struct nc_hdr *h);

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
	u8 hbuf[NC_HDR_LEN];
	u32 hfill;
	u32 pay_left;
	int state;
	int err;
	struct nc_hdr hdr;
	u64 frames;
	u64 bytes;
};

void nc_parser_init(struct nc_parser *p);
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
