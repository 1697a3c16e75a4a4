// SPDX-License-Identifier: GPL-2.0
/*
 * nc_credit.c - credit accounting for one virtual connection.
 * Pure logic shared by the kernel module and the unit tests.
 */
#include "nc_credit.h"

/* Clamp a requested buffer size (e.g. sk_rcvbuf) to a legal window. */
u32 nc_win_clamp(u64 bytes)
{
	if (bytes < NC_WIN_MIN)
		return NC_WIN_MIN;
	if (bytes > NC_WIN_MAX)
		return NC_WIN_MAX;
	return (u32)bytes;
}

/*
 * Send limit of a socket that did not set SO_SNDBUF: as much as its
 * channel's TCP socket may buffer (TCP autotunes that to the path), at
 * least NC_SNDLIM_FLOOR so a writer always makes progress, and never
 * more than cap (the default_window sysctl).  Without this, each socket
 * could queue a whole window ahead of a slow channel, and send() would
 * report megabytes as sent that the link needs a minute to carry.
 */
u32 nc_sndlim_auto(u32 chan_sndbuf, u32 cap)
{
	u32 lim = chan_sndbuf > NC_SNDLIM_FLOOR ? chan_sndbuf : NC_SNDLIM_FLOOR;

	return nc_win_clamp(lim < cap ? lim : cap);
}

void nc_txc_init(struct nc_tx_credit *c, u32 isn, u32 lim)
{
	c->nxt = isn;
	c->lim = lim;
	/* A limit behind isn or absurdly far ahead grants nothing. */
	if ((u32)(lim - isn) > NC_WIN_MAX)
		c->lim = isn;
}

u32 nc_txc_avail(const struct nc_tx_credit *c)
{
	s32 d = (s32)(c->lim - c->nxt);

	return d > 0 ? (u32)d : 0;
}

/* Account n bytes as sent.  -EINVAL if the window does not allow it. */
int nc_txc_consume(struct nc_tx_credit *c, u32 n)
{
	if (n > nc_txc_avail(c))
		return -EINVAL;
	c->nxt += n;
	return 0;
}

/*
 * Apply a credit update from the peer.  Credits for a connection travel
 * on one ordered channel, so a limit never moves backwards; a limit that
 * is behind the current one, or more than NC_WIN_MAX beyond what was
 * already sent, is a protocol violation (-EPROTO).
 * Returns 1 if the window grew, 0 if unchanged.
 */
int nc_txc_update(struct nc_tx_credit *c, u32 new_lim)
{
	/*
	 * An older grant overtaken by a newer one (two receive workers of a
	 * striped connection each send one) is stale, not a lie: ignored,
	 * as TCP ignores an old window update.  Beyond a window behind, it
	 * cannot be one of ours.
	 */
	if (nc_seq_before(new_lim, c->lim))
		return c->lim - new_lim <= NC_WIN_MAX ? 0 : -EPROTO;
	if ((u32)(new_lim - c->nxt) > NC_WIN_MAX)
		return -EPROTO;
	if (new_lim == c->lim)
		return 0;
	c->lim = new_lim;
	return 1;
}

void nc_rxc_init(struct nc_rx_credit *c, u32 isn, u32 win)
{
	c->win = nc_win_clamp(win);
	c->nxt = isn;
	c->consumed = isn;
	c->lim = isn + c->win;
}

/* Bytes received but not yet consumed by the application. */
u32 nc_rxc_buffered(const struct nc_rx_credit *c)
{
	return c->nxt - c->consumed;
}

/* Bytes the peer may still send under the advertised limit. */
u32 nc_rxc_room(const struct nc_rx_credit *c)
{
	s32 d = (s32)(c->lim - c->nxt);

	return d > 0 ? (u32)d : 0;
}

/* Account n received bytes.  -EPROTO if the peer overran its credit. */
int nc_rxc_receive(struct nc_rx_credit *c, u32 n)
{
	if (n > nc_rxc_room(c))
		return -EPROTO;
	c->nxt += n;
	return 0;
}

/*
 * Account n bytes consumed by the application.  Returns 1 when enough
 * window has opened that a CREDIT frame should be sent (then call
 * nc_rxc_grant_within()), 0 otherwise, -EINVAL if n exceeds what is
 * buffered.
 */
int nc_rxc_consume(struct nc_rx_credit *c, u32 n)
{
	u32 thresh = c->win / 4 ? c->win / 4 : 1;

	if (n > nc_rxc_buffered(c))
		return -EINVAL;
	c->consumed += n;
	return (u32)(c->consumed + c->win - c->lim) >= thresh;
}

/*
 * The CREDIT frame carrying lim (from nc_rxc_grant_within(), which moved the
 * limit up from prev) could not be sent: the peer still has prev, so go
 * back to it unless a later grant has replaced lim.  The next consume then
 * offers the window again.  Without this, a lost grant is replaced only
 * after another quarter window has been consumed past it; when one frame
 * crossed most of a small window, the peer never sends that much and both
 * ends wait for good.
 */
void nc_rxc_ungrant(struct nc_rx_credit *c, u32 lim, u32 prev)
{
	if (c->lim == lim)
		c->lim = prev;
}

/*
 * Receive memory (issue 13): the peer may only send what the receiver has
 * memory reserved for, so a grant is capped by that reservation ("cover",
 * in bytes beyond what the peer has sent) instead of memory being found
 * when the data arrives.  nc_rxc_want_room() is the room a full window
 * would give.
 */
u32 nc_rxc_want_room(const struct nc_rx_credit *c)
{
	return c->consumed + c->win - c->nxt;
}

/*
 * Move the advertised limit towards consumed + win (the whole window), but
 * at most to nxt + cover.  The limit never moves back (the peer may already
 * use it).  Returns 1 if it grew.
 */
int nc_rxc_grant_within(struct nc_rx_credit *c, u32 cover)
{
	u32 want = nc_rxc_want_room(c);
	u32 lim = c->nxt + (cover < want ? cover : want);

	if (!nc_seq_before(c->lim, lim))
		return 0;
	c->lim = lim;
	return 1;
}

/* nc_rxc_init() with the first grant capped at cover bytes. */
void nc_rxc_init_within(struct nc_rx_credit *c, u32 isn, u32 win, u32 cover)
{
	nc_rxc_init(c, isn, win);
	c->lim = isn;
	nc_rxc_grant_within(c, cover);
}

bool nc_ack_due(u32 nxt, u32 ack, u32 win, u32 frames)
{
	u32 every = win / 4 < NC_ACK_BYTES ? win / 4 : NC_ACK_BYTES;

	if (!every)
		every = 1;
	/* an ack ahead of nxt (it cannot be) counts as nothing due */
	return nc_seq_before(ack, nxt) &&
	       (nxt - ack >= every || frames >= NC_ACK_FRAMES);
}

/*
 * Twice the send limit, for what sits in TCP and in flight, and two ACK
 * intervals, for what came and is not acknowledged yet; within a window
 * less two frames, so a frame always fits the retransmit list's range.
 */
u32 nc_rtx_cap(u32 sndlim)
{
	u64 cap = 2 * (u64)sndlim + 2 * (u64)NC_ACK_BYTES;
	u32 most = NC_WIN_MAX - 2 * 65536u;	/* two NC_MAX_PAYLOAD frames */

	return cap < most ? (u32)cap : most;
}

/*
 * Take a token if there is one: true if the reply may go.  Tokens come
 * back at rate a second (at most NC_BUCKET_RATE_MAX), and the bucket
 * holds rate of them, so a rate lowered while it was full takes effect
 * at once.  A time before the last refill (a clock set back) refills
 * nothing.
 */
bool nc_bucket_take(struct nc_bucket *b, u64 now_ms, u32 rate)
{
	u64 elapsed;
	u32 add;

	if (!rate)
		return false;
	if (rate > NC_BUCKET_RATE_MAX)
		rate = NC_BUCKET_RATE_MAX;
	if (now_ms < b->last_ms)
		b->last_ms = now_ms;
	elapsed = now_ms - b->last_ms;
	/* below 1000 ms, elapsed * rate fits in 32 bits */
	add = elapsed >= 1000 ? rate : (u32)elapsed * rate / 1000u;
	if (add >= rate || b->tokens >= rate - add) {
		b->tokens = rate;
		b->last_ms = now_ms;
	} else if (add) {
		b->tokens += add;
		/* keep the fraction of a token not yet earned */
		b->last_ms += add * 1000u / rate;
	}
	if (!b->tokens)
		return false;
	b->tokens--;
	return true;
}
