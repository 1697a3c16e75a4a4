// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzz target for the NetChannel frame parser (and the host-table
 * parser).  Built with libFuzzer when clang provides it; otherwise with
 * -DNC_FUZZ_STANDALONE, which adds a deterministic mutation driver.
 *
 * Input layout: byte 0 selects the target (bit 0: 0 = frame parser,
 * 1 = host-table parser; bit 1 for the frame parser: 0 = version 1 only,
 * as the module's channels, 1 = versions 1 and 2, as a channel before
 * HELLO negotiation) and, for the frame parser, bytes 1..4 seed the
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
 *    error position inside the input and NUL-terminated strings.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../../netchannel/nc_wire.h"
#include "../../netchannel/nc_hostcfg.h"

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

int LLVMFuzzerTestOneInput(const u8 *data, size_t size);
int LLVMFuzzerTestOneInput(const u8 *data, size_t size)
{
	if (!size)
		return 0;
	if (data[0] & 1)
		fuzz_hostcfg(data + 1, size - 1);
	else
		fuzz_frames(data + 1, size - 1, data[0] & 2 ?
			    NC_VMASK_KNOWN : NC_VBIT(NC_WIRE_V1));
	return 0;
}

#ifdef NC_FUZZ_STANDALONE
#include <time.h>

/* Deterministic mutation loop used when libFuzzer is not available. */
static u32 rs = 0x9e3779b9u;

static u32 rnd(void)
{
	rs ^= rs << 13;
	rs ^= rs >> 17;
	rs ^= rs << 5;
	return rs;
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
		size_t len, m, nmut;

		if (rnd() % 4) {
			len = seed_frames(buf, sizeof(buf));
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
