/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_impl.h - kernel-side internals of the NetChannel module.
 */
#ifndef _NC_IMPL_H
#define _NC_IMPL_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/wait.h>
#include <linux/percpu.h>
#include <linux/refcount.h>
#include <linux/mutex.h>
#include <net/sock.h>
#include <net/inet_sock.h>
#include <linux/netchannel.h>
#include "nc_kcompat.h"

#include "nc_wire.h"
#include "nc_credit.h"
#include "nc_hostcfg.h"
#include "nc_demux.h"
#include "nc_auth.h"
#include "nc_reorder.h"
#include "nc_stripe.h"

/*
 * The wire version the data path speaks: 2 only.  Version 1 has no
 * destination address in CONNECT, so a listener bound to one address
 * could not be told apart from one bound to all (issue 13); a peer that
 * speaks only version 1 is refused at its HELLO, by name.
 */
#define NC_DP_VERSION		NC_WIRE_V2
#define NC_DP_VMASK		NC_VBIT(NC_DP_VERSION)

/* ---- global counters (per CPU, summed in /proc) ---- */
struct nc_stats {
	u64 tx_frames;
	u64 tx_bytes;
	u64 rx_frames;
	u64 rx_bytes;
	u64 conn_opened;
	u64 conn_accepted;
	u64 conn_refused;
	u64 conn_reset;
	u64 credit_sent;
	u64 chan_up;
	u64 chan_down;
	u64 chan_connect_fail;
	u64 proto_errors;
	u64 unknown_conn;
	u64 chan_refused;	/* inbound channels from hosts not in the table */
	u64 chan_evicted;	/* silent ones, by a newer one of the same host */
	u64 wire_refused;	/* channels whose HELLO shares no wire version */
	u64 auth_ok;		/* channel handshakes passed, either end */
	u64 auth_failed;	/* channels refused or dropped by authentication */
	u64 mem_capped;		/* grants smaller than the window: memory limits */
	u64 mem_refused;	/* connections refused: not even the floor */
	u64 mem_pressure;	/* times net.netchannel.mem's pressure was entered */
	u64 stripe_switches;	/* DATA frames sent on another channel than the last */
	u64 rx_ooo;		/* DATA frames that arrived ahead of a gap */
	u64 rx_dups;		/* DATA frames dropped as repeats of what came */
	u64 class_switches;	/* connections moved to another class's channels */
	u64 reset_limited;	/* RESET replies not sent: rate, queue, channel */
	u64 lookup_locked;	/* frame lookups asked again under the lock */
	u64 ack_sent;		/* ACK frames sent (with NC_CAP_ACK peers) */
	u64 ack_rcvd;		/* ACK frames that released DATA kept for them */
	u64 ack_probes;		/* ACK|PROBE sent: a writer waits on its peer */
	u64 rtx_capped;		/* writes that waited for an ACK (retention cap) */
	u64 rtx_frames;		/* DATA frames sent again after a channel loss */
	u64 rtx_bytes;		/* their payload */
	u64 ctl_rehomed;	/* connections whose control channel moved */
	u64 conn_kept;		/* lost channels' connections kept (resent) */
	u64 peer_timeouts;	/* connections failed: no channel to the peer */
	u64 credit_deferred;	/* CREDITs not queued, sent again by rtx_work */
};

DECLARE_PER_CPU(struct nc_stats, nc_stats);
#define NC_INC(f)	this_cpu_inc(nc_stats.f)
#define NC_ADD(f, n)	this_cpu_add(nc_stats.f, (n))

/* ---- tunables (sysctl) ---- */
struct nc_tunables {
	int connect_timeout_ms;
	int chan_wait_ms;
	int retry_min_ms;
	int retry_max_ms;
	int latency_priority;
	int default_window;
	int debug;
	int keepalive_time_s;		/* channel idle time before probes */
	int keepalive_intvl_s;		/* between keepalive probes */
	int keepalive_probes;		/* unanswered probes before the drop */
	int user_timeout_ms;		/* TCP_USER_TIMEOUT, 0: TCP's default */
	int hello_timeout_ms;		/* an inbound channel's HELLO, at most */
	int max_pending_per_peer;	/* before HELLO; 0: 2 * 16 + 4 */
	int latency_dscp;		/* latency channels' DSCP */
	int stripe;			/* spread a connection's frames */
	int drr;			/* connections take turns on a channel */
	int bulk_notsent_lowat;		/* bulk channels' TCP_NOTSENT_LOWAT, 0: off */
	int reset_rate;			/* RESET replies per peer and second */
};

extern struct nc_tunables nc_tun;
extern long nc_mem[3];		/* net.netchannel.mem, pages */
extern struct nc_hostcfg nc_cfg;

#define nc_dbg(fmt, ...)						\
	do {								\
		if (READ_ONCE(nc_tun.debug))				\
			pr_info("netchannel: " fmt, ##__VA_ARGS__);	\
	} while (0)

/* ---- outbound channels ---- */
enum nc_chan_state {
	NC_CH_IDLE = 0,
	NC_CH_CONNECTING,
	NC_CH_UP,
	NC_CH_BACKOFF,
	NC_CH_STOPPED,
};

/*
 * Largest DATA payload we send: keeps a frame (and the receiver's chunk)
 * within a 64 KiB allocation.  The wire allows up to NC_MAX_PAYLOAD.
 */
#define NC_TX_MAX_PAYLOAD	(65536u - 256u)

/*
 * A striping connection moves to another channel only when that one has
 * this many bytes less waiting (nc_stripe.margin): one full frame.
 */
#define NC_STRIPE_MARGIN	65536u

/*
 * net.netchannel.bulk_notsent_lowat's default: a bulk channel's TCP
 * socket holds at most about two frames it has not sent.
 */
#define NC_BULK_NOTSENT_LOWAT	131072

/*
 * A connection that kept its frames for resending (nc_sock.rtx_on) and
 * finds no channel to its peer up waits this long for one, trying again
 * every NC_RTX_RETRY_MS, before it fails with ETIMEDOUT.  Longer than
 * retry_max_ms (5 s) and a connect, so one lost round of channels is
 * ridden out.
 */
#define NC_PEER_TIMEOUT_MS	30000
#define NC_RTX_RETRY_MS		100

/*
 * A frame to send.  Control frames belong to the channel alone.  DATA of
 * a connection whose peer acknowledges (nc_sock.rtx_on) has a second
 * reference, the connection's retransmit list's, until the peer's ACK
 * covers it; each reference holds the owner socket, and the last one
 * returns the frame's memory to it (nc_txframe_put()).
 */
struct nc_txframe {
	struct list_head list;		/* the channel's queue */
	refcount_t ref;
	struct nc_rtx_frame rtx;	/* on the owner's rtx list while kept */
	struct sock *owner;		/* DATA: holds a reference; else NULL */
	struct nc_drr_flow *flow;	/* DATA: its connection's on the channel */
	u32 len;
	u32 sent;
	u32 truesize;			/* what kmalloc() gave */
	bool rst_reply;			/* a RESET a peer provoked (rst_queued) */
	bool charged;			/* truesize in the owner's tx_truesize (not a copy) */
	/* nc_rtx_work()'s batch to send again, and where to */
	struct list_head rs_node;
	u32 rs_chan;
	u32 rs_gen;
	/* under the owner's nsk->lock: on its rtx list; counted in rtx_mem */
	bool kept;
	bool in_mem;
	u8 buf[];
};

struct nc_peer;

struct nc_chan {
	struct nc_peer *peer;
	u32 idx;			/* index within the peer */
	bool latency;
	int cpu;			/* preferred CPU or WORK_CPU_UNBOUND */
	struct workqueue_struct *wq;

	spinlock_t lock;		/* protects the fields below */
	struct socket *sock;
	int state;
	u32 gen;			/* bumped on every up/down */
	/*
	 * Frames to send: txq in order (control frames, and DATA whose
	 * connection's turn came), drr the DATA waiting for its turn.
	 */
	struct list_head txq;
	struct nc_drr drr;
	u32 rdy_len;			/* frames in txq */
	u32 rdy_bytes;			/* their bytes not yet sent */
	u32 txq_len;			/* frames in txq and drr */
	u32 txq_bytes;			/* their bytes not yet sent */
	u32 rst_queued;			/* of the frames, rst_reply ones */
	u32 backoff_ms;
	u32 sndbuf;			/* the TCP socket's sk_sndbuf, last seen */

	struct work_struct tx_work;
	struct work_struct down_work;
	struct delayed_work conn_work;
	wait_queue_head_t up_wait;

	void (*saved_state_change)(struct sock *sk);
	void (*saved_write_space)(struct sock *sk);

	/* statistics, written by the channel's own works */
	u64 frames;
	u64 bytes;
	u32 connects;
	u32 fails;
	int last_err;
};

struct nc_peer {
	u32 ip;				/* host byte order */
	u32 nchans;			/* bulk + lat */
	struct nc_chan *chans;		/* [0, bulk) bulk, [bulk, n) latency */
	u32 caps;			/* NC_CAP_* of its latest inbound channel */
	spinlock_t rst_lock;		/* guards rst_bucket */
	struct nc_bucket rst_bucket;	/* RESETs the peer made us send */
};

/*
 * A RESET the peer provoked is not queued on a channel already holding
 * this many of them: a peer that floods frames for no connection and
 * reads nothing back cannot grow our queue without bound.  Only these
 * count, so other users' DATA on the channel does not crowd them out.
 */
#define NC_RST_TXQ_MAX		1024u

/*
 * A received DATA payload, queued on a socket until read; while it waits
 * for an earlier one (striping) it sits in the reorder queue by ro.
 */
struct nc_chunk {
	struct list_head list;
	struct nc_ro_frag ro;
	u32 len;			/* bytes in data[] */
	u32 off;			/* bytes of them read */
	u32 cap;			/* room in data[] */
	u8 data[];
};

/*
 * DATA payloads up to NC_RX_SMALL bytes are packed: each gets a chunk of
 * NC_RX_PACK bytes, and the receiver copies it behind the previous one
 * while that has room, so a peer sending 1-byte frames does not cost an
 * allocation per byte charged.
 */
#define NC_RX_SMALL		1024u
#define NC_RX_PACK		4096u
static_assert(sizeof(struct nc_chunk) + NC_RX_SMALL <= NC_RX_PACK);

/* ---- inbound channels (accepted from peers) ---- */
struct nc_rxchan {
	struct list_head list;
	struct socket *sock;
	u32 peer_ip;			/* host byte order */
	u64 id;
	struct mutex rx_mutex;		/* serialises rx_work runs */
	struct work_struct rx_work;
	struct work_struct teardown_work;
	struct delayed_work hello_work;	/* drops it if no HELLO came in time */
	bool hello_rearmed;		/* hello_work looked once more */
	struct workqueue_struct *wq;	/* changes to latency wq on HELLO */
	int cpu;
	bool dying;
	bool teardown_queued;		/* under nc_rx_lock */

	struct nc_parser parser;
	struct nc_hdr cur;		/* header of the frame being read */
	struct nc_chunk *cur_chunk;	/* DATA payload being assembled */
	u32 cur_fill;
	u8 *rxbuf;

	bool hello;
	u32 caps;			/* the HELLO's NC_CAP_* known here */
	u32 hello_idx;
	bool hello_latency;
	bool auth_wait;			/* challenge sent, proof not yet in */
	bool authed;			/* past HELLO with the cluster key */
	struct nc_auth_wait auth;
	u8 abuf[NC_AUTH_CHALLENGE_LEN];	/* HELLO or AUTH payload */

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);

	u64 frames;
	u64 bytes;
};

/* nc_main.c */
extern struct workqueue_struct *nc_bulk_wq;
extern struct workqueue_struct *nc_lat_wq;
extern struct workqueue_struct *nc_ctl_wq;

/* nc_chan.c */
extern struct nc_peer *nc_peers;
extern u32 nc_npeers;
int nc_chan_init(void);
void nc_chan_exit(void);
struct nc_peer *nc_peer_find(u32 ip);
struct nc_chan *nc_peer_pick_chan(struct nc_peer *peer, bool latency,
				  u16 lport, u16 rport);
void nc_chan_reset_all(void);
void nc_chan_auth_on(void);
int nc_chan_wait_up(struct nc_chan *ch, u32 *gen, long timeout);
struct nc_chan *nc_peer_chan_up(struct nc_peer *peer, bool latency,
				u16 lport, u16 rport, u32 *gen, long timeout);
/* the channels of a connection's class: *base is the first's index */
u32 nc_peer_class(bool latency, u32 *base);
struct nc_chan *nc_peer_stripe(struct nc_peer *peer, bool latency,
			       struct nc_stripe *st, u32 queued_frames,
			       u32 *gen);
void nc_chan_drop_flows(struct nc_drr_flow *fl, u32 n);
int nc_chan_xmit(struct nc_chan *ch, const u32 *gen, struct nc_txframe *f);
struct nc_txframe *nc_txframe_alloc(const struct nc_hdr *h, gfp_t gfp);
struct nc_txframe *nc_txframe_copy(const struct nc_txframe *f, gfp_t gfp);
u32 nc_peer_load(struct nc_peer *peer, struct nc_stripe_load *ld, u32 max);
/* ext: the v2 extension (CONNECT's destination, CLOSE's final offset), see nc_hdr_ext_set() */
int nc_send_ctrl(struct nc_chan *ch, const u32 *gen, u8 type, u16 flags, u16 sport,
		 u16 dport, u32 conn_id, u32 credit, u32 ext);
int nc_send_rst_reply(struct nc_chan *ch, u16 flags, u16 sport, u16 dport,
		      u32 conn_id);
void nc_chan_seq_show(struct seq_file *m);

/*
 * ---- Virtual sockets ----
 *
 * Layered as HomaModule is: each file calls only the ones below it
 * (tests/unit/test_module_layers.py checks it).
 *
 *   nc_main.c       load/unload, configuration, sysctls, /proc
 *   nc_plumbing.c   proto/proto_ops, registration
 *   nc_incoming.c   frames from the channel workers to their connection
 *   nc_outgoing.c   control frames, credit, the channel of each DATA frame
 *   nc_sock.c       the socket table, port map, SO_REUSEPORT groups,
 *                   setup and destruction of a struct nc_sock
 *   nc_mem.c        receive and send memory accounting
 *   nc_chan.c       the channels to each peer, below them all;
 *   nc_auth.c       their authentication (one layer with nc_chan.c)
 *
 * The channel layer calls up only through the functions declared last in
 * this header (nc_rx_frame(), nc_conns_chan_down(), nc_conns_rxchan_down(),
 * nc_txframe_done()); nc_sock.c calls the predicate nc_socktab_find() is
 * given, under nc_tbl_lock.
 *
 * Locking: lock_sock() serialises system calls on a socket; nsk->lock (a
 * spinlock, never held while copying to or from user space) protects the
 * state shared with the channel receive workers; nc_tbl_lock (nc_sock.c)
 * protects the demux table and the port map and nests outside nsk->lock.
 */
struct nc_sock {
	struct inet_sock inet;		/* must be first */
	spinlock_t lock;		/* see Locking above */
	struct nc_dnode node;		/* demux table entry */
	struct nc_peer *peer;
	struct nc_chan *txch;		/* control frames, DATA when not striping */
	u32 txgen;
	struct nc_stripe st;		/* DATA's channel, index in tx_latency's class */
	u32 st_used;			/* peer->chans[i] DATA went on: bit i */
	u32 st_gen[2 * NC_MAX_CLASS_CHANNELS];	/* their generation then */
	/* DATA waiting on peer->chans[i] for its turn (struct nc_drr) */
	struct nc_drr_flow txfl[2 * NC_MAX_CLASS_CHANNELS];
	u64 rxchan_id;
	struct nc_reorder ro;		/* DATA ahead of a gap (striping) */
	u32 ro_alloc;			/* allocated for the chunks in ro */
	u32 conn_id;
	u16 lport;
	u16 rport;
	bool port_reserved;
	struct nc_rgroup *rg;		/* SO_REUSEPORT group of lport */
	struct list_head rg_node;	/* on rg->listeners (not in nc_tbl) */
	bool latency;			/* class of the connection's control frames */
	bool tx_latency;		/* class DATA goes on now (SO_PRIORITY) */
	u32 tx_prio;			/* sk_priority that tx_latency follows */
	bool peer_fin;
	bool fin_sent;
	struct nc_tx_credit txc;
	struct nc_rx_credit rxc;
	/*
	 * Acknowledgements, with a peer that announced NC_CAP_ACK (rtx_on):
	 * DATA sent and not yet acknowledged (the frames, whose memory stays
	 * charged; rtx_mem bytes of it belong to frames the channels are
	 * done with, which only the ACK frees), an ACK|PROBE outstanding for
	 * the bytes before ack_asked_seq, and as receiver the offset last
	 * acknowledged and the one a PROBE waits for.
	 */
	bool rtx_on;
	bool ack_asked;
	bool ack_want_on;
	struct nc_rtx rtx;
	u32 rtx_mem;
	u32 ack_asked_seq;
	u32 ack_sent;
	u32 ack_frames;			/* DATA frames with new bytes since */
	u32 ack_want;
	unsigned long ack_rep_at;	/* a repeated answer to PROBE, not before */
	unsigned long ack_asked_at;	/* when the PROBE out went */
	struct delayed_work ack_work;	/* the delayed ACK (nc_incoming.c) */
	/*
	 * Sending again after a channel loss (nc_rtx_work(), the only
	 * resender): kicked by the loss, by a send that found its channel
	 * gone; rtx_probe asks the peer whether it still has the connection
	 * (the channel it arrived on is gone), rtx_wait_at is when it began
	 * to wait for a channel to the peer (rtx_waiting).
	 */
	struct delayed_work rtx_work;
	bool rtx_probe;
	bool rtx_resync;		/* CREDIT (and CLOSE) to send again */
	bool rtx_waiting;
	unsigned long rtx_wait_at;
	struct list_head rxq;		/* struct nc_chunk */
	u32 rxq_bytes;
	atomic_t tx_queued;		/* bytes in channel queues, unsent */
	atomic_t tx_payload;		/* of them, payload (SIOCOUTQ) */
	atomic_t tx_truesize;		/* allocated for our frames queued */
	int tx_charged;			/* of it in sk_wmem_queued (owner) */
	unsigned long tx_flags;		/* NC_TX_RECLAIM */
	int rfwd;			/* receive memory reserved, unused */
	u32 mem_short;			/* growth the cgroup refused */
	unsigned long room_next;	/* no make-room before (jiffies) */
	unsigned long ahead_next;	/* a listener's: nc_listen_room() */
	struct work_struct room_work;	/* a listener's, for its children */
	/* listeners */
	struct list_head acceptq;
	u32 acceptq_len;
	struct list_head accept_node;
};

static inline struct nc_sock *nc_sk(const struct sock *sk)
{
	return (struct nc_sock *)sk;
}

static inline struct sock *nc_to_sk(struct nc_sock *nsk)
{
	return &nsk->inet.sk;
}

#define NC_WAKE_ALL	(EPOLLIN | EPOLLRDNORM | EPOLLOUT | EPOLLWRNORM | \
			 EPOLLERR | EPOLLHUP | EPOLLRDHUP)

/* Wait on the socket with lock_sock() dropped; returns the condition. */
#define nc_wait(sk, timeo, cond)					\
	({								\
		DEFINE_WAIT_FUNC(__wait, woken_wake_function);		\
		struct sock *__nc_sk = (sk);				\
		int __ret;						\
		add_wait_queue(sk_sleep(__nc_sk), &__wait);		\
		__ret = sk_wait_event(__nc_sk, timeo, cond, &__wait);	\
		remove_wait_queue(sk_sleep(__nc_sk), &__wait);		\
		__ret;							\
	})

/* Where a connection's control frames go, read at one moment. */
struct nc_ctl {
	struct nc_chan *ch;
	u32 gen;
	u32 conn_id;
	u16 flags;
	u16 lport;
	u16 rport;
};

static inline void nc_wake(struct sock *sk, __poll_t mask)
{
	struct socket_wq *wq;

	rcu_read_lock();
	wq = rcu_dereference(sk->sk_wq);
	if (skwq_has_sleeper(wq))
		wake_up_interruptible_poll(&wq->wait, mask);
	rcu_read_unlock();
	/* O_ASYNC owners get SIGIO, with the band TCP would give */
	if (!sock_flag(sk, SOCK_FASYNC))
		return;
	if ((mask & EPOLLERR) && READ_ONCE(sk->sk_err))
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_ERR);
	else if (mask & EPOLLIN)
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_IN);
	if (mask & EPOLLOUT)
		sk_wake_async(sk, SOCK_WAKE_IO, POLL_OUT);
}

/* nc_sock.c */
int nc_hash(struct nc_sock *nsk);
int nc_listener_hash(struct nc_sock *nsk);
void nc_set_key(struct nc_sock *nsk, u32 peer, u16 rport);
void nc_unhash(struct nc_sock *nsk);
void nc_unhash_conn(struct nc_sock *nsk, u32 conn_id);
struct nc_sock *nc_lookup(u32 peer, u16 lport, u16 rport);
struct nc_sock *nc_lookup_listener(u32 peer, u32 daddr, u16 port,
				   u16 rport);
int nc_port_get(struct nc_sock *nsk, u16 port);
void nc_port_put(struct nc_sock *nsk);
void nc_sock_setup(struct nc_sock *nsk);
void nc_sock_destruct(struct sock *sk);
/* pred runs under nc_tbl_lock (a spinlock): it must not sleep nor take that lock */
struct nc_sock *nc_socktab_find(bool (*pred)(struct nc_sock *, const void *),
				const void *arg, u32 *conn_id);
void nc_socktab_each(void (*fn)(struct nc_sock *, void *), void *arg);
void nc_socktab_init(void);
void nc_socktab_exit(void);
void nc_socktab_seq_show(struct seq_file *m);

/* nc_mem.c */
extern atomic_long_t nc_memory_allocated;
DECLARE_PER_CPU(int, nc_memory_fw_alloc);
extern struct percpu_counter nc_sockets_allocated;
extern unsigned long nc_memory_pressure;
extern int nc_rmem_min;
void nc_enter_memory_pressure(struct sock *sk);
void nc_leave_memory_pressure(struct sock *sk);
void nc_listen_room(struct nc_sock *lnsk);
void nc_mem_room(struct nc_sock *nsk);
void nc_room_work(struct work_struct *w);
void nc_room_later(struct nc_sock *lnsk);
void nc_mem_charge(struct nc_sock *nsk, u32 n);
void nc_mem_uncharge(struct nc_sock *nsk, u32 n);
int __nc_rx_reserve(struct nc_sock *nsk, u32 win);
int nc_rx_reserve(struct nc_sock *nsk, u32 win);
bool nc_rx_consumed(struct nc_sock *nsk, u32 n, bool uncharge,
		    bool owner, u32 *credit, u32 *prev);
u32 nc_rxq_purge(struct nc_sock *nsk, bool all);
u32 nc_sock_window(const struct sock *sk);
bool nc_tx_room(struct nc_sock *nsk);
u32 nc_rtx_limit(struct nc_sock *nsk);
bool nc_rtx_full(struct nc_sock *nsk);
void nc_rtx_reset(struct nc_sock *nsk, bool on);
void nc_rtx_drop_locked(struct nc_sock *nsk, struct list_head *frames);
int nc_rtx_acked_locked(struct nc_sock *nsk, u32 ack, struct list_head *frames);
void nc_rtx_put_list(struct list_head *frames);
void nc_rtx_orphan(struct nc_sock *nsk, struct nc_txframe *f);
extern int nc_wmem_min;
void nc_tx_uncharge(struct nc_sock *nsk);
void nc_release_cb(struct sock *sk);
bool nc_tx_charge(struct nc_sock *nsk, u32 truesize);
int nc_mem_init(void);
void nc_mem_exit(void);
void nc_mem_seq_show(struct seq_file *m);

/* nc_outgoing.c */
void nc_ctl_snap(const struct nc_sock *nsk, struct nc_ctl *d);
int nc_ctl_send(const struct nc_ctl *d, u8 type, u32 credit, u32 ext);
int nc_send(struct nc_sock *nsk, u8 type, u32 credit);
void nc_send_credit(struct nc_sock *nsk, const struct nc_ctl *d,
		    u32 credit, u32 prev);
void nc_send_credit_owner(struct nc_sock *nsk, u32 credit, u32 prev);
bool nc_ack_now(struct nc_sock *nsk, u32 *seq);
bool nc_ack_pending(struct nc_sock *nsk, u32 *seq);
int nc_send_ack(const struct nc_ctl *d, u32 seq, bool probe, u32 want);
void nc_tx_probe(struct nc_sock *nsk);
void nc_stripe_start(struct nc_sock *nsk, struct nc_chan *ch, u32 gen,
		     u32 prio);
void nc_tx_class(struct nc_sock *nsk);
struct nc_chan *nc_tx_chan(struct nc_sock *nsk, u32 *gen, u32 len);
void nc_rtx_kick(struct nc_sock *nsk, unsigned long delay);

/* nc_incoming.c */
void nc_conn_fail(struct nc_sock *nsk, int err, bool send_reset);
void nc_ack_work(struct work_struct *w);
void nc_rtx_work(struct work_struct *w);
void nc_destroy_children(struct list_head *children);

/* nc_plumbing.c: called from nc_main.c */
int nc_sock_init(void);
void nc_sock_exit(void);
void nc_sock_seq_show(struct seq_file *m);

/* nc_incoming.c, nc_mem.c: called from the channel workers (nc_chan.c) */
void nc_rx_frame(struct nc_rxchan *rc, const struct nc_hdr *h,
		 struct nc_chunk *chunk);
void nc_conns_chan_down(struct nc_chan *ch, u32 gen);
void nc_conns_rxchan_down(const struct nc_rxchan *rc);
void nc_txframe_done(struct nc_txframe *f);
void nc_txframe_put(struct nc_txframe *f);

#endif /* _NC_IMPL_H */
