// SPDX-License-Identifier: GPL-2.0
/*
 * nc_wire.c - encode/decode/validate NetChannel frame headers and the
 * incremental stream parser.  Pure logic: shared by the kernel module and
 * the user-space unit tests and fuzzer.
 */
#include "nc_wire.h"

enum {
	NC_PS_HDR = 0,
	NC_PS_PAYLOAD,
	NC_PS_END,
	NC_PS_ERROR,
};

static const char *const nc_wire_errs[NC_WERR_MAX] = {
	[NC_WERR_NONE]		= "no error",
	[NC_WERR_MAGIC]		= "bad magic",
	[NC_WERR_VERSION]	= "unsupported version",
	[NC_WERR_TYPE]		= "unknown frame type",
	[NC_WERR_FLAGS]		= "unknown flag bits",
	[NC_WERR_RSVD]		= "reserved field not zero",
	[NC_WERR_LEN]		= "payload length invalid for frame type",
};

const char *nc_wire_strerror(int err)
{
	if (err < 0 || err >= NC_WERR_MAX)
		return "invalid error code";
	return nc_wire_errs[err];
}

void nc_hdr_encode(const struct nc_hdr *h, u8 *buf)
{
	nc_put_be16(buf + 0, NC_WIRE_MAGIC);
	buf[2] = NC_WIRE_VERSION;
	buf[3] = h->type;
	nc_put_be16(buf + 4, h->flags);
	nc_put_be16(buf + 6, 0);
	nc_put_be16(buf + 8, h->sport);
	nc_put_be16(buf + 10, h->dport);
	nc_put_be32(buf + 12, h->conn_id);
	nc_put_be32(buf + 16, h->len);
	nc_put_be32(buf + 20, h->credit);
}

void nc_hdr_decode(const u8 *buf, struct nc_hdr *h)
{
	h->magic = nc_get_be16(buf + 0);
	h->version = buf[2];
	h->type = buf[3];
	h->flags = nc_get_be16(buf + 4);
	h->rsvd = nc_get_be16(buf + 6);
	h->sport = nc_get_be16(buf + 8);
	h->dport = nc_get_be16(buf + 10);
	h->conn_id = nc_get_be32(buf + 12);
	h->len = nc_get_be32(buf + 16);
	h->credit = nc_get_be32(buf + 20);
}

int nc_hdr_validate(const struct nc_hdr *h)
{
	if (h->magic != NC_WIRE_MAGIC)
		return NC_WERR_MAGIC;
	if (h->version != NC_WIRE_VERSION)
		return NC_WERR_VERSION;
	if (h->type < NC_T_HELLO || h->type >= NC_T_MAX)
		return NC_WERR_TYPE;
	if (h->flags & ~NC_F_KNOWN)
		return NC_WERR_FLAGS;
	if (h->rsvd)
		return NC_WERR_RSVD;
	if (h->type == NC_T_DATA) {
		if (h->len == 0 || h->len > NC_MAX_PAYLOAD)
			return NC_WERR_LEN;
	} else if (h->len != 0) {
		return NC_WERR_LEN;
	}
	return NC_WERR_NONE;
}

void nc_parser_init(struct nc_parser *p)
{
	memset(p, 0, sizeof(*p));
	p->state = NC_PS_HDR;
}

static size_t nc_parser_fail(struct nc_parser *p, int err, struct nc_event *ev)
{
	p->state = NC_PS_ERROR;
	p->err = err;
	ev->type = NC_EV_ERROR;
	ev->err = err;
	return 0;
}

u32 nc_parser_payload_left(const struct nc_parser *p)
{
	return p->state == NC_PS_PAYLOAD ? p->pay_left : 0;
}

u32 nc_parser_advance(struct nc_parser *p, u32 n)
{
	if (p->state != NC_PS_PAYLOAD)
		return 0;
	if (n > p->pay_left)
		n = p->pay_left;
	p->pay_left -= n;
	p->bytes += n;
	if (!p->pay_left)
		p->state = NC_PS_END;
	return n;
}

size_t nc_parser_feed(struct nc_parser *p, const u8 *buf, size_t len,
		      struct nc_event *ev)
{
	size_t n;
	int err;

	ev->type = NC_EV_NEED_MORE;
	ev->err = NC_WERR_NONE;
	ev->hdr = NULL;
	ev->data = NULL;
	ev->len = 0;

	switch (p->state) {
	case NC_PS_ERROR:
		ev->type = NC_EV_ERROR;
		ev->err = p->err;
		return 0;
	case NC_PS_END:
		p->state = NC_PS_HDR;
		p->frames++;
		ev->type = NC_EV_END;
		ev->hdr = &p->hdr;
		return 0;
	case NC_PS_PAYLOAD:
		if (!len)
			return 0;
		n = len < p->pay_left ? len : p->pay_left;
		p->pay_left -= (u32)n;
		p->bytes += n;
		if (!p->pay_left)
			p->state = NC_PS_END;
		ev->type = NC_EV_DATA;
		ev->hdr = &p->hdr;
		ev->data = buf;
		ev->len = (u32)n;
		return n;
	case NC_PS_HDR:
		break;
	default:
		return nc_parser_fail(p, NC_WERR_MAX, ev);
	}

	if (!len)
		return 0;
	n = NC_HDR_LEN - p->hfill;
	if (n > len)
		n = len;
	memcpy(p->hbuf + p->hfill, buf, n);
	p->hfill += (u32)n;
	p->bytes += n;
	/*
	 * Check the magic as soon as its two bytes are in, so garbage is
	 * rejected without waiting for a full header.
	 */
	if (p->hfill >= 2 && nc_get_be16(p->hbuf) != NC_WIRE_MAGIC) {
		nc_parser_fail(p, NC_WERR_MAGIC, ev);
		return n;
	}
	if (p->hfill < NC_HDR_LEN)
		return n;

	p->hfill = 0;
	nc_hdr_decode(p->hbuf, &p->hdr);
	err = nc_hdr_validate(&p->hdr);
	if (err != NC_WERR_NONE) {
		nc_parser_fail(p, err, ev);
		return n;
	}
	p->pay_left = p->hdr.len;
	p->state = p->pay_left ? NC_PS_PAYLOAD : NC_PS_END;
	ev->type = NC_EV_HDR;
	ev->hdr = &p->hdr;
	return n;
}
