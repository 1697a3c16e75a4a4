/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_auth.h - mutual authentication of channels with a cluster key.
 *
 * With a key set (sysctl auth_key, root only), a channel is taken as a
 * host's only after both ends have shown they hold the key:
 *
 *   connector -> acceptor  HELLO, flag AUTH: key id, nonce_c
 *   acceptor -> connector  AUTH: nonce_a, HMAC(key, "nc-auth-a" | ctx)
 *   connector -> acceptor  AUTH: HMAC(key, "nc-auth-c" | ctx)
 *
 * ctx binds the TCP connection's two addresses and ports, the channel's
 * index and class, the versions the HELLO offered and both nonces, so an
 * answer can be neither replayed nor moved to another connection, index
 * or class, nor reflected (the two MACs differ in their label), and the
 * versions cannot be downgraded unseen.  Without a key, channels are
 * taken as before; a host with a key refuses channels without one and the
 * other way round, and both ends log why.  With the module parameter
 * auth_required, a host without a key yet opens and takes no channel.
 */
#ifndef _NC_AUTH_H
#define _NC_AUTH_H

#include <linux/types.h>
#include <linux/seq_file.h>
#include <linux/net.h>

#include "nc_wire.h"

#define NC_AUTH_KEY_LEN		32
#define NC_AUTH_MAX_KEYS	2	/* current, and one more during rotation */

struct nc_auth_key {
	u8 key[NC_AUTH_KEY_LEN];
	u8 id[NC_AUTH_ID_LEN];
};

/* One handshake's inputs, as both ends see them. */
struct nc_auth_ctx {
	u32 ip_c, ip_a;			/* connector, acceptor; host order */
	u16 port_c, port_a;
	u16 idx;
	bool latency;
	u32 vmask;			/* the connector's HELLO's versions */
	u8 nonce_c[NC_AUTH_NONCE_LEN];
	u8 nonce_a[NC_AUTH_NONCE_LEN];
};

/* The acceptor's state between its challenge and the connector's proof. */
struct nc_auth_wait {
	struct nc_auth_key key;
	struct nc_auth_ctx ctx;
};

extern bool nc_auth_required;	/* module parameter auth_required */

bool nc_auth_enabled(void);
/* Channels must authenticate: a key is set, or auth_required is. */
static inline bool nc_auth_wanted(void)
{
	return READ_ONCE(nc_auth_required) || nc_auth_enabled();
}

/* The key connectors use (the first one set); -ENOKEY if none. */
int nc_auth_current(struct nc_auth_key *k);
/*
 * Parse and set "" / "off" / "hex64" / "hex64,hex64"; logs what is wrong.
 * Returns 1 when this turned authentication on (no key before), else 0 or
 * -errno.  The caller serialises calls (nc_main.c's nc_auth_mutex).
 */
int nc_auth_set(const char *buf, size_t len);
void nc_auth_show(struct seq_file *m);
void nc_auth_exit(void);

/*
 * Connector: after connect(), run the handshake on sock (blocking, at most
 * hello_timeout_ms for the acceptor's answer).  On success *proof is the
 * AUTH frame to send right after, as the channel's second frame.
 */
struct nc_txframe;
int nc_auth_connect(struct socket *sock, u16 idx, bool latency,
		    struct nc_txframe **proof, const char **why);
/*
 * Acceptor: the connector's HELLO (flag AUTH, payload id | nonce_c) came
 * on sock: pick the key by id, answer with the challenge, fill *w.
 */
int nc_auth_challenge(struct socket *sock, const struct nc_hdr *h,
		      const u8 *payload, struct nc_auth_wait *w,
		      const char **why);
/* Acceptor: the connector's proof; 0 if it holds the key.  Wipes *w. */
int nc_auth_check_proof(struct nc_auth_wait *w, const u8 *payload, u32 len);

#endif /* _NC_AUTH_H */
