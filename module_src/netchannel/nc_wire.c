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
	[NC_WERR_FLAGS]		= "unknown flag bits, or a flag this frame type cannot carry",
	[NC_WERR_RSVD]		= "reserved field not zero",
	[NC_WERR_LEN]		= "payload length invalid for frame type",
	[NC_WERR_VMASK]		= "HELLO version set invalid",
	[NC_WERR_ADDR]		= "CONNECT destination address invalid",
};

static const char *const nc_neg_reasons[NC_NEG_MAX] = {
	[NC_NEG_OK]		= "ok",
	[NC_NEG_NOT_HELLO]	= "first frame is not HELLO",
	[NC_NEG_LOCAL_MASK]	= "local wire version set invalid",
	[NC_NEG_PEER_MASK]	= "peer's wire version set invalid",
	[NC_NEG_PEER_V1_ONLY]	= "peer speaks only wire version 1",
	[NC_NEG_NO_COMMON]	= "no wire version in common with the peer",
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
	h->vmask = 0;
	h->daddr = 0;
	h->seq = 0;
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
	return nc_hdr_validate_v(h, NC_VBIT(NC_WIRE_V1));
}

static bool nc_version_ok(u8 version, u32 vmask)
{
	return version >= NC_WIRE_V1 && version <= NC_WIRE_VMAX &&
	       (vmask & NC_VBIT(version));
}

u32 nc_hdr_len(u8 version, u8 type)
{
	switch (version) {
	case NC_WIRE_V1:
		return type >= NC_T_HELLO && type < NC_T_MAX_V1 ? NC_HDR_LEN : 0;
	case NC_WIRE_V2:
		switch (type) {
		case NC_T_HELLO:
		case NC_T_CONNECT:
		case NC_T_DATA:
		case NC_T_CLOSE:
		case NC_T_ACK:
			return NC_HDR_LEN + NC_HDR_EXT_LEN;
		case NC_T_ACCEPT:
		case NC_T_RESET:
		case NC_T_CREDIT:
		case NC_T_AUTH:
			return NC_HDR_LEN;
		}
		return 0;
	}
	return 0;
}

/* The extension word of a v2 header, by type. */
static u32 nc_hdr_ext_get(const struct nc_hdr *h)
{
	switch (h->type) {
	case NC_T_HELLO:
		return h->vmask;
	case NC_T_CONNECT:
		return h->daddr;
	default:
		return h->seq;
	}
}

void nc_hdr_ext_set(struct nc_hdr *h, u32 v)
{
	switch (h->type) {
	case NC_T_HELLO:
		h->vmask = v;
		break;
	case NC_T_CONNECT:
		h->daddr = v;
		break;
	default:
		h->seq = v;
		break;
	}
}

u32 nc_hdr_encode_v(const struct nc_hdr *h, u8 *buf, u32 size)
{
	u32 len = nc_hdr_len(h->version, h->type);

	if (!len || size < len)
		return 0;
	nc_hdr_encode(h, buf);
	buf[2] = h->version;
	if (len > NC_HDR_LEN)
		nc_put_be32(buf + NC_HDR_LEN, nc_hdr_ext_get(h));
	return len;
}

/* Checks of the fixed part, in the order version 1 always used. */
static int nc_hdr_validate_fixed(const struct nc_hdr *h, u32 vmask)
{
	if (h->magic != NC_WIRE_MAGIC)
		return NC_WERR_MAGIC;
	if (!nc_version_ok(h->version, vmask))
		return NC_WERR_VERSION;
	if (!nc_hdr_len(h->version, h->type))
		return NC_WERR_TYPE;
	if (h->flags & ~NC_F_KNOWN)
		return NC_WERR_FLAGS;
	if (h->rsvd)
		return NC_WERR_RSVD;
	if ((h->flags & NC_F_AUTH) && h->type != NC_T_HELLO)
		return NC_WERR_FLAGS;
	if ((h->flags & NC_F_LOOPBACK) && h->type != NC_T_CONNECT)
		return NC_WERR_FLAGS;
	if ((h->flags & NC_F_PROBE) && h->type != NC_T_ACK)
		return NC_WERR_FLAGS;
	if ((h->flags & NC_F_RTX) && h->type != NC_T_DATA)
		return NC_WERR_FLAGS;
	switch (h->type) {
	case NC_T_DATA:
		if (h->len == 0 || h->len > NC_MAX_PAYLOAD)
			return NC_WERR_LEN;
		break;
	case NC_T_HELLO:
		if (h->len != (h->flags & NC_F_AUTH ? NC_AUTH_HELLO_LEN : 0))
			return NC_WERR_LEN;
		break;
	case NC_T_AUTH:
		if (h->len != NC_AUTH_CHALLENGE_LEN && h->len != NC_AUTH_PROOF_LEN)
			return NC_WERR_LEN;
		break;
	default:
		if (h->len != 0)
			return NC_WERR_LEN;
	}
	return NC_WERR_NONE;
}

/* Checks of the v2 extension word. */
static int nc_hdr_validate_ext(const struct nc_hdr *h)
{
	if (h->version < NC_WIRE_V2)
		return NC_WERR_NONE;
	/* a v2+ HELLO must list the version it is written in, never 0 */
	if (h->type == NC_T_HELLO &&
	    ((h->vmask & NC_VBIT(0)) || !(h->vmask & NC_VBIT(NC_WIRE_V2))))
		return NC_WERR_VMASK;
	if (h->type == NC_T_CONNECT && !h->daddr)
		return NC_WERR_ADDR;
	return NC_WERR_NONE;
}

int nc_hdr_validate_v(const struct nc_hdr *h, u32 vmask)
{
	int err = nc_hdr_validate_fixed(h, vmask);

	return err != NC_WERR_NONE ? err : nc_hdr_validate_ext(h);
}

/*
 * Early checks on a header prefix: magic after 2 bytes, version after 3,
 * type after 4.  Returns NC_WERR_NONE while the prefix may still be good.
 */
static int nc_hdr_check_prefix(const u8 *buf, u32 fill, u32 vmask)
{
	if (fill >= 2 && nc_get_be16(buf) != NC_WIRE_MAGIC)
		return NC_WERR_MAGIC;
	if (fill >= 3 && !nc_version_ok(buf[2], vmask))
		return NC_WERR_VERSION;
	if (fill >= 4 && !nc_hdr_len(buf[2], buf[3]))
		return NC_WERR_TYPE;
	return NC_WERR_NONE;
}

int nc_hdr_parse(const u8 *buf, u32 size, u32 vmask, struct nc_hdr *h)
{
	u32 len;
	int err;

	err = nc_hdr_check_prefix(buf, size < 4 ? size : 4, vmask);
	if (err != NC_WERR_NONE)
		return -err;
	if (size < 4)
		return 0;
	if (size < NC_HDR_LEN)
		return 0;
	/* the fixed part is judged as soon as it is in, as the stream parser does */
	nc_hdr_decode(buf, h);
	err = nc_hdr_validate_fixed(h, vmask);
	if (err != NC_WERR_NONE)
		return -err;
	len = nc_hdr_len(buf[2], buf[3]);
	if (size < len)
		return 0;
	if (len > NC_HDR_LEN)
		nc_hdr_ext_set(h, nc_get_be32(buf + NC_HDR_LEN));
	err = nc_hdr_validate_ext(h);
	if (err != NC_WERR_NONE)
		return -err;
	return (int)len;
}

void nc_hello_init(struct nc_hdr *h, u32 local_vmask, u16 index,
		   bool latency)
{
	memset(h, 0, sizeof(*h));
	h->magic = NC_WIRE_MAGIC;
	h->type = NC_T_HELLO;
	h->sport = index;
	h->flags = latency ? NC_F_LATENCY : 0;
	if (local_vmask & ~NC_VBIT(NC_WIRE_V1)) {
		h->version = NC_WIRE_V2;
		h->vmask = local_vmask;
	} else {
		h->version = NC_WIRE_V1;
	}
}

static int nc_highest_bit(u32 v)
{
	int b = -1;

	while (v) {
		v >>= 1;
		b++;
	}
	return b;
}

int nc_wire_negotiate(u32 local_vmask, const struct nc_hdr *hello,
		      u8 *version)
{
	u32 peer, common;

	if (!local_vmask || (local_vmask & ~NC_VMASK_KNOWN))
		return NC_NEG_LOCAL_MASK;
	if (hello->type != NC_T_HELLO)
		return NC_NEG_NOT_HELLO;
	if (hello->version == NC_WIRE_V1)
		peer = NC_VBIT(NC_WIRE_V1);
	else
		peer = hello->vmask;
	if (!peer || (peer & NC_VBIT(0)))
		return NC_NEG_PEER_MASK;
	common = local_vmask & peer;
	if (!common)
		return peer == NC_VBIT(NC_WIRE_V1) ? NC_NEG_PEER_V1_ONLY :
						     NC_NEG_NO_COMMON;
	*version = (u8)nc_highest_bit(common);
	return NC_NEG_OK;
}

const char *nc_neg_strerror(int res)
{
	if (res < 0 || res >= NC_NEG_MAX)
		return "invalid negotiation result";
	return nc_neg_reasons[res];
}

void nc_parser_init(struct nc_parser *p)
{
	nc_parser_init_vmask(p, NC_VBIT(NC_WIRE_V1));
}

void nc_parser_init_vmask(struct nc_parser *p, u32 vmask)
{
	memset(p, 0, sizeof(*p));
	p->state = NC_PS_HDR;
	p->vmask = vmask & NC_VMASK_KNOWN;
}

void nc_parser_set_vmask(struct nc_parser *p, u32 vmask)
{
	p->vmask = vmask & NC_VMASK_KNOWN;
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
	size_t n, k, want;
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
	/*
	 * Every header has the 24-byte fixed part; once it is in and valid,
	 * its version and type give the full length (v2 adds an extension).
	 */
	n = 0;
	if (p->hfill < NC_HDR_LEN) {
		n = NC_HDR_LEN - p->hfill;
		if (n > len)
			n = len;
		memcpy(p->hbuf + p->hfill, buf, n);
		p->hfill += (u32)n;
		p->bytes += n;
		/*
		 * Check the magic as soon as its two bytes are in, so
		 * garbage is rejected without waiting for a full header.
		 */
		if (p->hfill >= 2 && nc_get_be16(p->hbuf) != NC_WIRE_MAGIC) {
			nc_parser_fail(p, NC_WERR_MAGIC, ev);
			return n;
		}
		if (p->hfill < NC_HDR_LEN)
			return n;
		/* same checks in the same order as version 1 always had */
		nc_hdr_decode(p->hbuf, &p->hdr);
		err = nc_hdr_validate_fixed(&p->hdr, p->vmask);
		if (err != NC_WERR_NONE) {
			nc_parser_fail(p, err, ev);
			return n;
		}
	}
	want = nc_hdr_len(p->hbuf[2], p->hbuf[3]);
	k = want - p->hfill;
	if (k > len - n)
		k = len - n;
	memcpy(p->hbuf + p->hfill, buf + n, k);
	p->hfill += (u32)k;
	p->bytes += k;
	n += k;
	if (p->hfill < want)
		return n;
	if (want > NC_HDR_LEN)
		nc_hdr_ext_set(&p->hdr, nc_get_be32(p->hbuf + NC_HDR_LEN));
	err = nc_hdr_validate_ext(&p->hdr);
	if (err != NC_WERR_NONE) {
		nc_parser_fail(p, err, ev);
		return n;
	}
	p->hfill = 0;
	p->pay_left = p->hdr.len;
	p->state = p->pay_left ? NC_PS_PAYLOAD : NC_PS_END;
	ev->type = NC_EV_HDR;
	ev->hdr = &p->hdr;
	return n;
}
