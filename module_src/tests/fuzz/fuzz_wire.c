// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target for the NetChannel frame parser (and the host-table
 * parser, the reorder queue and the retransmit list).  Built with libFuzzer when clang provides it; otherwise with
 * -DNC_FUZZ_STANDALONE, which adds a deterministic mutation driver.
 *
 * Input layout: byte 0 selects the target (byte 0 & 3: 0 = frame parser,
 * version 1 only, as the module's channels; 1 = host-table parser; 2 =
 * frame parser accepting versions 1 and 2, as a channel before HELLO
 * negotiation; 3 = reorder queue and retransmit list driven by the input
 * as a list of operations) and, for the frame parser, bytes 1..4 seed the
 * chunking of the rest of the input.
 *
 * Invariants checked (abort() on violation, so the run fails):
 *  - every call consumes no more than it is given;
 *  - NEED_MORE only when all input is consumed;
 *  - events come in HDR, DATA*, END order; DATA lengths add up to hdr.len;
 *  - every reported header passes nc_hdr_validate() and re-encodes to
 *    the exact input bytes;
 *  - an error is sticky and no further bytes are consumed after it;
 *  - the parser's byte counter equals the bytes consumed, also when part
 *    of a payload is taken zero-copy with nc_parser_advance();
 *  - host-table parser: success yields a consistent table, failure an
 *    error position inside the input and NUL-terminated strings;
 *  - reorder queue: queued frames in order, disjoint, inside [nxt, lim),
 *    byte and frame counts exact, a refused frame changes nothing, pops
 *    are in order, every frame is handed back exactly once;
 *  - retransmit list: frames contiguous from una to nxt, counts and
 *    orphans exact, orphans only while no channel is up, every frame
 *    released exactly once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../netchannel/nc_wire.h"
#include "../../netchannel/nc_hostcfg.h"
#include "../../netchannel/nc_reorder.h"
#include "../../netchannel/nc_stripe.h"
#include "../../netchannel/nc_credit.h"
#include "../unit/nc_test.h"

#define FZ_ASSERT(c)							\
	do {								\
		if (!(c)) {						\
			fprintf(stderr, "invariant violated: %s (%s:%d)\n", \
				#c, __FILE__, __LINE__);		\
			abort();					\
		}							\
	} while (0)

static void fuzz_frames(const u8 *data, size_t size, u32 vmask)
{
	struct nc_parser p;
	u32 seed = 1, in_frame = 0, got = 0, want = 0;
	size_t off = 0, consumed = 0;
	u8 hdrbytes[NC_HDR_MAX];
	u8 enc[NC_HDR_MAX];
	u32 hlen;
	size_t hpos = 0;
	int errored = 0;

	if (size >= 4) {
		memcpy(&seed, data, 4);
		data += 4;
		size -= 4;
	}
	if (vmask == NC_VBIT(NC_WIRE_V1))
		nc_parser_init(&p);
	else
		nc_parser_init_vmask(&p, vmask);
	do {
		size_t n = size - off;

		seed = seed * 1664525u + 1013904223u;
		if (n && (seed >> 28))
			n = 1 + (seed >> 8) % n;
		{
			const u8 *piece = data + off;
			size_t left = n;

			off += n;
			for (;;) {
				struct nc_event ev;
				u32 pl = nc_parser_payload_left(&p);
				size_t used;

				/* sometimes take the payload zero-copy */
				if (pl && left && (seed & 0x10000)) {
					u32 k = left < pl ? (u32)left : pl;

					FZ_ASSERT(in_frame && !errored);
					FZ_ASSERT(nc_parser_advance(&p, k) == k);
					got += k;
					FZ_ASSERT(got <= want);
					consumed += k;
					piece += k;
					left -= k;
					continue;
				}
				used = nc_parser_feed(&p, piece, left, &ev);

				FZ_ASSERT(used <= left);
				if (errored)
					FZ_ASSERT(ev.type == NC_EV_ERROR && used == 0);
				/* remember header bytes for re-encode check */
				if (!in_frame && !errored) {
					size_t k;

					for (k = 0; k < used && hpos < NC_HDR_MAX; k++)
						hdrbytes[hpos++] = piece[k];
				}
				consumed += used;
				piece += used;
				left -= used;
				if (ev.type == NC_EV_NEED_MORE) {
					FZ_ASSERT(left == 0);
					break;
				}
				if (ev.type == NC_EV_ERROR) {
					FZ_ASSERT(ev.err > 0 && ev.err < NC_WERR_MAX);
					errored = 1;
					break;
				}
				if (ev.type == NC_EV_HDR) {
					FZ_ASSERT(!in_frame);
					hlen = nc_hdr_len(ev.hdr->version,
							  ev.hdr->type);
					FZ_ASSERT(hlen && hpos == hlen);
					FZ_ASSERT(nc_hdr_validate_v(ev.hdr, vmask) ==
						  NC_WERR_NONE);
					if (vmask == NC_VBIT(NC_WIRE_V1))
						FZ_ASSERT(nc_hdr_validate(ev.hdr) ==
							  NC_WERR_NONE);
					FZ_ASSERT(nc_hdr_encode_v(ev.hdr, enc,
								  sizeof(enc)) == hlen);
					FZ_ASSERT(!memcmp(enc, hdrbytes, hlen));
					/* the one-shot parser agrees */
					{
						struct nc_hdr h2;

						FZ_ASSERT(nc_hdr_parse(hdrbytes, hlen, vmask,
								       &h2) == (int)hlen);
						FZ_ASSERT(!memcmp(&h2, ev.hdr,
								  sizeof(h2)));
					}
					in_frame = 1;
					want = ev.hdr->len;
					got = 0;
					hpos = 0;
				} else if (ev.type == NC_EV_DATA) {
					FZ_ASSERT(in_frame);
					FZ_ASSERT(ev.len > 0 && ev.data);
					got += ev.len;
					FZ_ASSERT(got <= want);
				} else if (ev.type == NC_EV_END) {
					FZ_ASSERT(in_frame && got == want);
					in_frame = 0;
				} else {
					FZ_ASSERT(0);
				}
			}
		}
		if (errored)
			break;
	} while (off < size);
	FZ_ASSERT(p.bytes == consumed);
}

static void fuzz_hostcfg(const u8 *data, size_t size)
{
	char *s = malloc(size + 1);
	struct nc_hostcfg cfg;
	struct nc_cfg_error err;
	u32 i, k;

	if (!s)
		return;
	memcpy(s, data, size);
	s[size] = '\0';
	if (nc_hostcfg_parse(s, &cfg, &err) == 0) {
		FZ_ASSERT(cfg.local_ip != 0);
		FZ_ASSERT(cfg.npeers <= NC_MAX_PEERS);
		FZ_ASSERT(cfg.bulk >= 1 && cfg.bulk <= NC_MAX_CLASS_CHANNELS);
		FZ_ASSERT(cfg.lat <= NC_MAX_CLASS_CHANNELS);
		FZ_ASSERT(cfg.port != 0);
		for (i = 0; i < cfg.npeers; i++) {
			FZ_ASSERT(cfg.peers[i] != cfg.local_ip);
			for (k = i + 1; k < cfg.npeers; k++)
				FZ_ASSERT(cfg.peers[i] != cfg.peers[k]);
		}
	} else {
		FZ_ASSERT(err.pos >= 0 && (size_t)err.pos <= strlen(s));
		FZ_ASSERT(memchr(err.token, 0, sizeof(err.token)));
		FZ_ASSERT(memchr(err.msg, 0, sizeof(err.msg)) && err.msg[0]);
	}
	free(s);
}

/* ---- reorder queue and retransmit list ---- */

#define FQ_POOL 64

struct fq_frag {
	struct nc_ro_frag f;
	int used;
};

struct fq_tx {
	struct nc_rtx_frame f;
	int used;
};

struct fq_in {
	const u8 *p;
	size_t left;
};

static u32 fq_get(struct fq_in *in, int bytes)
{
	u32 v = 0;

	while (bytes--) {
		v <<= 8;
		if (in->left) {
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

static void fq_ro_release(struct nc_ro_frag *f, void *arg)
{
	struct fq_frag *ff = container_of(f, struct fq_frag, f);

	FZ_ASSERT(ff->used == 2);
	ff->used = 0;
	(*(u32 *)arg)++;
}

static void fq_ro_check(const struct nc_reorder *q)
{
	struct rb_node *n;
	u32 bytes = 0, count = 0, prev_end = 0;

	FZ_ASSERT(q->lim - q->nxt <= NC_WIN_MAX);
	for (n = rb_first(&q->root); n; n = rb_next(n)) {
		const struct nc_ro_frag *f = rb_entry(n, struct nc_ro_frag, rb);
		u32 off = f->seq - q->nxt;

		FZ_ASSERT(container_of(f, struct fq_frag, f)->used == 2);
		FZ_ASSERT(f->len && f->len <= NC_MAX_PAYLOAD);
		FZ_ASSERT(off >= prev_end && off + f->len > off);
		FZ_ASSERT(off + f->len <= q->lim - q->nxt);
		if (q->fin_set)
			FZ_ASSERT(off + f->len <= q->fin - q->nxt);
		prev_end = off + f->len;
		bytes += f->len;
		count++;
	}
	FZ_ASSERT(nc_rb_check(q->root.rb_node, NULL) == (long)count);
	FZ_ASSERT(bytes == q->bytes && count == q->count);
}

static void fuzz_reorder(struct fq_in *in)
{
	static struct fq_frag pool[FQ_POOL];
	struct nc_reorder q, before;
	u32 released = 0, handed = 0;
	int i, r;

	memset(pool, 0, sizeof(pool));
	nc_ro_init(&q, fq_get(in, 4), 0);
	nc_ro_set_limit(&q, q.nxt + fq_get(in, 3));
	while (in->left) {
		u32 op = fq_get(in, 1);

		before = q;
		switch (op % 4) {
		case 0:
		case 1: {	/* offer a frame near nxt */
			struct fq_frag *ff = NULL;

			for (i = 0; i < FQ_POOL; i++)
				if (!pool[i].used) {
					ff = &pool[i];
					break;
				}
			if (!ff)
				break;
			ff->f.seq = q.nxt + (u32)(s32)(short)fq_get(in, 2) *
				    (op & 0x80 ? 64 : 1);
			ff->f.len = fq_get(in, 2) + (op & 0x40 ? 1 : 0);
			r = nc_ro_insert(&q, &ff->f);
			if (r == NC_RO_QUEUED) {
				ff->used = 2;
				FZ_ASSERT(q.count == before.count + 1);
			} else {
				FZ_ASSERT(r == NC_RO_DUP || r == -EINVAL ||
					  r == -ENOBUFS || r == -EPROTO);
				FZ_ASSERT(q.count == before.count &&
					  q.bytes == before.bytes &&
					  q.nxt == before.nxt);
				if (r == NC_RO_DUP)
					FZ_ASSERT(q.dups == before.dups + 1);
			}
			break;
		}
		case 2: {	/* deliver what is in order */
			struct nc_ro_frag *f;

			while ((f = nc_ro_pop(&q))) {
				FZ_ASSERT(f->seq == before.nxt);
				before.nxt += f->len;
				FZ_ASSERT(q.nxt == before.nxt);
				fq_ro_release(f, &handed);
			}
			break;
		}
		default:	/* grant credit or announce the end */
			if (op & 0x80) {
				r = nc_ro_set_fin(&q, q.nxt + fq_get(in, 2));
				FZ_ASSERT(r == 0 || r == -EPROTO);
				if (r)
					FZ_ASSERT(q.fin_set == before.fin_set &&
						  q.fin == before.fin);
			} else {
				r = nc_ro_set_limit(&q, q.lim +
						    (u32)(s32)(short)fq_get(in, 2));
				FZ_ASSERT(r == 0 || r == -EPROTO);
				if (r)
					FZ_ASSERT(q.lim == before.lim);
				else
					FZ_ASSERT(!nc_seq_lt(q.lim, before.lim));
			}
			break;
		}
		fq_ro_check(&q);
	}
	nc_ro_purge(&q, fq_ro_release, &released);
	FZ_ASSERT(q.count == 0 && q.bytes == 0 && RB_EMPTY_ROOT(&q.root));
	for (i = 0; i < FQ_POOL; i++)
		FZ_ASSERT(!pool[i].used);
	(void)handed;
}

static void fq_tx_release(struct nc_rtx_frame *f, void *arg)
{
	struct fq_tx *t = container_of(f, struct fq_tx, f);

	FZ_ASSERT(t->used == 1);
	t->used = 0;
	(*(u32 *)arg)++;
}

static void fq_tx_resend(struct nc_rtx_frame *f, void *arg)
{
	FZ_ASSERT(f->chan >= 0 && f->chan < 4);
	FZ_ASSERT(((struct nc_stripe_load *)arg)[f->chan].up);
}

static void fq_rtx_check(const struct nc_rtx *r,
			 const struct nc_stripe_load *ld)
{
	const struct nc_rtx_frame *f;
	u32 seq = r->una, bytes = 0, count = 0, orphans = 0;
	bool any_up = ld[0].up || ld[1].up || ld[2].up || ld[3].up;

	list_for_each_entry(f, &r->frames, node) {
		FZ_ASSERT(f->seq == seq && f->len);
		FZ_ASSERT(f->chan >= NC_CHAN_NONE && f->chan < 4);
		if (f->chan == NC_CHAN_NONE)
			orphans++;
		seq += f->len;
		bytes += f->len;
		count++;
	}
	FZ_ASSERT(seq == r->nxt);
	FZ_ASSERT(bytes == r->bytes && count == r->count);
	FZ_ASSERT(orphans == r->orphans);
	/* frames wait without a channel only while every channel is down */
	FZ_ASSERT(!orphans || !any_up);
}

static void fuzz_rtx(struct fq_in *in)
{
	static struct fq_tx pool[FQ_POOL];
	struct nc_stripe_load ld[4];
	struct nc_stripe st;
	struct nc_rtx r;
	u32 released = 0, sent = 0;
	int i, c;

	memset(pool, 0, sizeof(pool));
	memset(ld, 0, sizeof(ld));
	for (i = 0; i < 4; i++)
		ld[i].up = true;
	nc_rtx_init(&r, fq_get(in, 4));
	nc_stripe_init(&st, (int)fq_get(in, 1) % 5 - 1);
	while (in->left) {
		u32 op = fq_get(in, 1);
		struct nc_rtx before = r;

		switch (op % 5) {
		case 0:
		case 1: {	/* queue a frame on the scheduler's channel */
			struct fq_tx *t = NULL;

			for (i = 0; i < FQ_POOL; i++)
				if (!pool[i].used) {
					t = &pool[i];
					break;
				}
			if (!t)
				break;
			c = nc_stripe_pick(&st, ld, 4, op >> 4);
			FZ_ASSERT(c == -ENOLINK || (c >= 0 && c < 4 && ld[c].up));
			t->f.seq = op & 0x08 ? r.nxt + 1 : r.nxt;
			t->f.len = fq_get(in, 2);
			if (!nc_rtx_sent(&r, &t->f, c)) {
				t->used = 1;
				sent++;
				if (c >= 0)
					ld[c].queued += t->f.len;
			} else {
				FZ_ASSERT(r.count == before.count);
			}
			break;
		}
		case 2: {	/* a cumulative ACK, maybe stale or bogus */
			u32 ack = op & 0x80 ? r.una + fq_get(in, 3) :
				  r.una - fq_get(in, 1);
			int n = nc_rtx_ack(&r, ack, fq_tx_release, &released);

			FZ_ASSERT(n >= 0 || n == -EPROTO);
			if (n < 0)
				FZ_ASSERT(r.count == before.count &&
					  r.una == before.una);
			else if (n > 0)
				FZ_ASSERT(r.una == ack);
			break;
		}
		case 3:		/* a channel drops */
			c = (int)(op >> 4) % 4;
			i = nc_rtx_chan_lost(&r, c, ld, 4, fq_tx_resend, ld);
			FZ_ASSERT(!ld[c].up);
			FZ_ASSERT(i >= 0 || i == -ENOLINK);
			if (i == -ENOLINK)
				FZ_ASSERT(!ld[0].up && !ld[1].up && !ld[2].up &&
					  !ld[3].up && r.orphans);
			break;
		default:	/* a channel comes back, TCP drains */
			c = (int)(op >> 4) % 4;
			ld[c].up = true;
			ld[c].queued /= 2;
			ld[c].notsent = op & 0x08 ? fq_get(in, 2) : 0;
			FZ_ASSERT(nc_rtx_requeue(&r, ld, 4, fq_tx_resend, ld) >= 0);
			FZ_ASSERT(!r.orphans);
			break;
		}
		fq_rtx_check(&r, ld);
	}
	nc_rtx_purge(&r, fq_tx_release, &released);
	FZ_ASSERT(released == sent);
	for (i = 0; i < FQ_POOL; i++)
		FZ_ASSERT(!pool[i].used);
}

static void fuzz_queues(const u8 *data, size_t size)
{
	struct fq_in in = { data, size };

	if (fq_get(&in, 1) & 1)
		fuzz_rtx(&in);
	else
		fuzz_reorder(&in);
}

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	if (!size)
		return 0;
	switch (data[0] & 3) {
	case 1:
		fuzz_hostcfg(data + 1, size - 1);
		break;
	case 3:
		fuzz_queues(data + 1, size - 1);
		break;
	default:
		fuzz_frames(data + 1, size - 1, data[0] & 2 ?
			    NC_VMASK_KNOWN : NC_VBIT(NC_WIRE_V1));
		break;
	}
	return 0;
}

#ifdef NC_FUZZ_STANDALONE
#include <time.h>

/* Deterministic mutation loop used when libFuzzer is not available. */
static u32 rs = 0x9e3779b9u;

static u32 rnd(void)
{
	return nc_test_xorshift32(&rs);
}

static size_t seed_frames(u8 *b, size_t cap)
{
	size_t off = 5;
	struct nc_hdr h = { 0 };
	bool v2 = rnd() % 2;

	memset(b, 0, 5);
	b[0] = v2 ? 2 : 0;
	while (off + NC_HDR_MAX + 64 < cap && rnd() % 8) {
		h.version = v2 ? NC_WIRE_V2 : NC_WIRE_V1;
		h.type = (u8)(1 + rnd() % ((v2 ? NC_T_MAX : NC_T_MAX_V1) - 1));
		h.len = h.type == NC_T_DATA ? 1 + rnd() % 64 : 0;
		h.sport = (u16)rnd();
		h.vmask = NC_VMASK_KNOWN;
		h.daddr = rnd() | 1;
		h.seq = rnd();
		off += nc_hdr_encode_v(&h, b + off, (u32)(cap - off));
		memset(b + off, (int)rnd(), h.len);
		off += h.len;
	}
	return off;
}

int main(int argc, char **argv)
{
	static u8 buf[4096];
	static const char *const cfgs[] = {
		"local=198.18.0.1;peers=198.18.0.2,198.18.0.3;bulk=4;lat=2;port=9000;cpus=0-1",
		"local=127.0.0.1",
	};
	double secs = argc > 1 ? atof(argv[1]) : 10;
	time_t end = time(NULL) + (time_t)secs;
	unsigned long iters = 0;

	while (time(NULL) < end) {
		size_t len, m, nmut, k;

		k = rnd() % 8;
		if (k < 5) {
			len = seed_frames(buf, sizeof(buf));
		} else if (k == 7) {
			buf[0] = 3;
			len = 1 + rnd() % 400;
			for (m = 1; m < len; m++)
				buf[m] = (u8)rnd();
		} else {
			const char *c = cfgs[rnd() % 2];

			buf[0] = 1;
			len = 1 + strlen(c);
			memcpy(buf + 1, c, len - 1);
		}
		nmut = rnd() % 6;
		for (m = 0; m < nmut && len > 1; m++) {
			size_t pos = 1 + rnd() % (len - 1);

			switch (rnd() % 4) {
			case 0:
				buf[pos] ^= (u8)(1u << (rnd() % 8));
				break;
			case 1:
				buf[pos] = (u8)rnd();
				break;
			case 2:
				len = pos + 1;	/* truncate */
				break;
			default:
				buf[pos] = (u8)";=,.-0123456789"[rnd() % 15];
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, len);
		iters++;
	}
	printf("fuzz: %lu iterations, no invariant violations\n", iters);
	return 0;
}
#endif
