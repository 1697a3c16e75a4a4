/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * netchannel.h - user-space interface of the NetChannel virtual sockets.
 *
 * Applications open a NetChannel socket with
 *	socket(AF_INET, SOCK_STREAM, IPPROTO_VIRTUAL_SOCK);
 * (SOCK_DGRAM is accepted too and behaves identically: a reliable,
 * ordered byte stream) and then use it like a TCP socket.
 */
#ifndef _UAPI_LINUX_NETCHANNEL_H
#define _UAPI_LINUX_NETCHANNEL_H

#ifndef IPPROTO_VIRTUAL_SOCK
#define IPPROTO_VIRTUAL_SOCK	19
#endif
#ifndef SOL_VIRTUAL_SOCK
#define SOL_VIRTUAL_SOCK	19
#endif

/* Sockets with SO_PRIORITY >= this use the latency channel class. */
#define NETCHANNEL_LATENCY_PRIORITY	6

/* /proc/net/<name>: per-peer channel state and per-CPU counters. */
#define NETCHANNEL_PROC_NAME		"netchannel"

/* sysctl directory and entries: /proc/sys/net/netchannel/<entry> */
#define NETCHANNEL_SYSCTL_DIR		"net/netchannel"
#define NETCHANNEL_SYSCTL_CONNECT_TIMEOUT_MS	"connect_timeout_ms"
#define NETCHANNEL_SYSCTL_CHAN_WAIT_MS		"chan_wait_ms"
#define NETCHANNEL_SYSCTL_RETRY_MIN_MS		"retry_min_ms"
#define NETCHANNEL_SYSCTL_RETRY_MAX_MS		"retry_max_ms"
#define NETCHANNEL_SYSCTL_LATENCY_PRIORITY	"latency_priority"
#define NETCHANNEL_SYSCTL_DEFAULT_WINDOW	"default_window"
#define NETCHANNEL_SYSCTL_DEBUG			"debug"
/* liveness of the channels' TCP connections (keepalive, TCP_USER_TIMEOUT) */
#define NETCHANNEL_SYSCTL_KEEPALIVE_TIME_S	"keepalive_time_s"
#define NETCHANNEL_SYSCTL_KEEPALIVE_INTVL_S	"keepalive_intvl_s"
#define NETCHANNEL_SYSCTL_KEEPALIVE_PROBES	"keepalive_probes"
#define NETCHANNEL_SYSCTL_USER_TIMEOUT_MS	"user_timeout_ms"
/* an inbound channel must send HELLO first, and within this time */
#define NETCHANNEL_SYSCTL_HELLO_TIMEOUT_MS	"hello_timeout_ms"
/*
 * inbound channels from one host still waiting for their HELLO, at most
 * (a new one evicts the oldest); 0: 36, what the largest table opens at once and 4
 */
#define NETCHANNEL_SYSCTL_MAX_PENDING_PER_PEER	"max_pending_per_peer"
/*
 * DSCP (0-63) of the latency class's channels, both directions; they also
 * carry latency_priority as their socket priority (SO_PRIORITY), so qdiscs
 * and switches can prefer them.  46 is EF (expedited forwarding).
 * Applied when a channel is set up.
 */
#define NETCHANNEL_SYSCTL_LATENCY_DSCP		"latency_dscp"
/* write 1: drop every outbound channel now (tests the recovery path) */
#define NETCHANNEL_SYSCTL_RESET_CHANNELS	"reset_channels"
/*
 * Write-only (0200, root): the cluster key, 64 hex digits, or two
 * comma-separated (the first is used, both are accepted: rotation); "off"
 * clears it.  /proc/net/netchannel shows the keys' public ids.
 */
#define NETCHANNEL_SYSCTL_AUTH_KEY		"auth_key"
/*
 * 1 (default): a connection with more than one DATA frame waiting spreads
 * its frames over every channel of its class, the least loaded first, and
 * the receiver puts them back in order; 0: each connection keeps to one
 * channel.  Applies to frames sent after the change.
 */
#define NETCHANNEL_SYSCTL_STRIPE		"stripe"
#define NETCHANNEL_SYSCTL_DRR		"drr"
#define NETCHANNEL_SYSCTL_BULK_NOTSENT_LOWAT	"bulk_notsent_lowat"
/*
 * RESETs a peer can make this host send, per second (1 to 1000000, and a
 * burst of as many), as answers to frames for no connection and to refused
 * CONNECTs; the rest are dropped and counted (reset_limited).
 */
#define NETCHANNEL_SYSCTL_RESET_RATE		"reset_rate"
/* receive memory, pages: min, pressure, max (as tcp_mem) */
#define NETCHANNEL_SYSCTL_MEM			"mem"

#endif /* _UAPI_LINUX_NETCHANNEL_H */
