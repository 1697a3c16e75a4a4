/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_credit.h - per-connection credit-based flow control.
 *
 * Each direction of a virtual connection has a byte counter starting at
 * an initial sequence (0 on the wire today) and running modulo 2^32.
 * The receiver advertises an absolute limit ("credit"); the sender may
 * only send bytes whose offset is below that limit.  The receiver grows
 * the limit as its application consumes data, so a connection never has
 * more unread bytes in flight than its receive window.  Because frames
 * for a connection can therefore always be queued at the receiver without
 * waiting, a slow reader never blocks the channel it shares with others.
 */
#ifndef _NC_CREDIT_H
#define _NC_CREDIT_H

#include "nc_compat.h"

#define NC_WIN_MIN		4096u
#define NC_WIN_MAX		0x40000000u	/* 1 GiB */
/* a socket may always queue two full DATA frames (see nc_sndlim_auto) */
#define NC_SNDLIM_FLOOR		131072u

struct nc_tx_credit {
	u32 nxt;	/* offset of the next byte to send */
	u32 lim;	/* peer allows bytes below this offset */
};

struct nc_rx_credit {
	u32 nxt;	/* offset of the next byte expected from the peer */
	u32 consumed;	/* bytes handed to the application */
	u32 lim;	/* limit last advertised to the peer */
	u32 win;	/* receive window in bytes */
};

u32 nc_win_clamp(u64 bytes);
u32 nc_sndlim_auto(u32 chan_sndbuf, u32 cap);

void nc_txc_init(struct nc_tx_credit *c, u32 isn, u32 lim);
u32 nc_txc_avail(const struct nc_tx_credit *c);
int nc_txc_consume(struct nc_tx_credit *c, u32 n);
int nc_txc_update(struct nc_tx_credit *c, u32 new_lim);

void nc_rxc_init(struct nc_rx_credit *c, u32 isn, u32 win);
u32 nc_rxc_buffered(const struct nc_rx_credit *c);
u32 nc_rxc_room(const struct nc_rx_credit *c);
int nc_rxc_receive(struct nc_rx_credit *c, u32 n);
int nc_rxc_consume(struct nc_rx_credit *c, u32 n);
void nc_rxc_ungrant(struct nc_rx_credit *c, u32 lim, u32 prev);
u32 nc_rxc_want_room(const struct nc_rx_credit *c);
int nc_rxc_grant_within(struct nc_rx_credit *c, u32 cover);
void nc_rxc_init_within(struct nc_rx_credit *c, u32 isn, u32 win, u32 cover);

/*
 * Acknowledgements (wire ACK, with peers that announce NC_CAP_ACK).  The
 * receiver acknowledges every NC_ACK_BYTES received in order, or every
 * quarter window when that is less, and every NC_ACK_FRAMES DATA frames
 * (small frames cost the sender far more memory than their bytes):
 * nc_ack_due() says whether nxt (the next offset expected) has gone that
 * far past ack (the last offset acknowledged), frames counting the DATA
 * frames since.  The sender keeps what was not acknowledged; it may keep
 * at most nc_rtx_cap() bytes of memory for it, from its send limit.
 */
#define NC_ACK_BYTES		262144u
#define NC_ACK_FRAMES		128u
/* bytes received and not acknowledged are, at the latest after this (ms) */
#define NC_ACK_DELAY_MS		40u
/* a PROBE not answered in this time (ms) is sent again while a writer waits */
#define NC_PROBE_AGAIN_MS	1000u
bool nc_ack_due(u32 nxt, u32 ack, u32 win, u32 frames);
u32 nc_rtx_cap(u32 sndlim);

/*
 * A token bucket for replies a peer can provoke (RESET to frames for no
 * connection): up to rate a second, in bursts of up to rate.  A zeroed
 * bucket is full at the first take.
 */
#define NC_BUCKET_RATE_MAX	1000000u

struct nc_bucket {
	u64 last_ms;	/* time of the last refill */
	u32 tokens;
};

bool nc_bucket_take(struct nc_bucket *b, u64 now_ms, u32 rate);

#endif /* _NC_CREDIT_H */
