// SPDX-License-Identifier: GPL-2.0
/*
 * nc_auth.c - channel authentication with a cluster key (see nc_auth.h).
 *
 * HMAC-SHA256 through the kernel crypto API.  A transform is allocated per
 * MAC: channels are set up rarely, and nothing keyed stays allocated
 * between handshakes (crypto_free_shash() wipes the key schedule).
 */
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/random.h>
#include <linux/in.h>
#include <linux/spinlock.h>
#include <crypto/hash.h>
#include <crypto/algapi.h>
#include <net/sock.h>

#include "nc_impl.h"
#include "nc_auth.h"

static DEFINE_SPINLOCK(nc_auth_lock);
static struct nc_auth_key nc_auth_keys[NC_AUTH_MAX_KEYS];
static int nc_auth_nkeys;

static const char nc_label_id[] = "nc-key-id";
static const char nc_label_a[] = "nc-auth-a";
static const char nc_label_c[] = "nc-auth-c";
#define NC_LABEL_LEN	9	/* each label, without its NUL */

static const char nc_why_silent[] =
	"no answer to HELLO within hello_timeout_ms (not a NetChannel host, or a busy one)";
static const char nc_why_closed[] =
	"the acceptor closed the channel (it has no cluster key, or another one: see its log)";

static int nc_hmac(const u8 *key, const u8 *msg, unsigned int len,
		   u8 out[NC_AUTH_MAC_LEN])
{
	struct crypto_shash *tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	int err;

	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	err = crypto_shash_setkey(tfm, key, NC_AUTH_KEY_LEN);
	if (!err)
		err = crypto_shash_tfm_digest(tfm, msg, len, out);
	crypto_free_shash(tfm);
	return err;
}

static void nc_put16(u8 *p, u16 v)
{
	p[0] = v >> 8;
	p[1] = v;
}

static void nc_put32(u8 *p, u32 v)
{
	nc_put16(p, v >> 16);
	nc_put16(p + 2, v);
}

/*
 * label | ip_c | port_c | ip_a | port_a | idx | class | vmask | nonce_c |
 * nonce_a
 */
#define NC_MAC_MSG_LEN	(NC_LABEL_LEN + 4 + 2 + 4 + 2 + 2 + 1 + 4 + \
			 2 * NC_AUTH_NONCE_LEN)

static int nc_auth_mac(const struct nc_auth_key *k, const char *label,
		       const struct nc_auth_ctx *c, u8 out[NC_AUTH_MAC_LEN])
{
	u8 msg[NC_MAC_MSG_LEN], *p = msg;

	memcpy(p, label, NC_LABEL_LEN);
	p += NC_LABEL_LEN;
	nc_put32(p, c->ip_c);
	nc_put16(p + 4, c->port_c);
	nc_put32(p + 6, c->ip_a);
	nc_put16(p + 10, c->port_a);
	nc_put16(p + 12, c->idx);
	p[14] = c->latency;
	nc_put32(p + 15, c->vmask);
	p += 19;
	memcpy(p, c->nonce_c, NC_AUTH_NONCE_LEN);
	memcpy(p + NC_AUTH_NONCE_LEN, c->nonce_a, NC_AUTH_NONCE_LEN);
	return nc_hmac(k->key, msg, sizeof(msg), out);
}

bool nc_auth_enabled(void)
{
	return READ_ONCE(nc_auth_nkeys) > 0;
}

int nc_auth_current(struct nc_auth_key *k)
{
	int n;

	spin_lock(&nc_auth_lock);
	n = nc_auth_nkeys;
	if (n)
		*k = nc_auth_keys[0];
	spin_unlock(&nc_auth_lock);
	return n ? 0 : -ENOKEY;
}

static int nc_auth_find(const u8 *id, struct nc_auth_key *k)
{
	int i, err = -ENOKEY;

	spin_lock(&nc_auth_lock);
	for (i = 0; i < nc_auth_nkeys; i++) {
		if (!memcmp(nc_auth_keys[i].id, id, NC_AUTH_ID_LEN)) {
			*k = nc_auth_keys[i];
			err = 0;
			break;
		}
	}
	spin_unlock(&nc_auth_lock);
	return err;
}

/*
 * The value written to auth_key: "" or "off" clears the keys; otherwise
 * one or two keys of 64 hex digits, comma-separated (current, then one
 * more that acceptors also take, for rotation).  Messages never quote
 * the value.
 */
int nc_auth_set(const char *buf, size_t len)
{
	struct nc_auth_key keys[NC_AUTH_MAX_KEYS];
	char s[NC_AUTH_MAX_KEYS * (2 * NC_AUTH_KEY_LEN + 1) + 8], *p, *tok;
	u8 mac[NC_AUTH_MAC_LEN];
	int n = 0, err = 0, i, was = 0;

	if (len >= sizeof(s)) {
		pr_warn("netchannel: auth_key not set: the value has %zu characters; it takes at most %d keys of %d hex digits, comma-separated\n",
			len, NC_AUTH_MAX_KEYS, 2 * NC_AUTH_KEY_LEN);
		return -EINVAL;
	}
	memcpy(s, buf, len);
	s[len] = '\0';
	p = strim(s);
	if (*p && strcmp(p, "off")) {
		while ((tok = strsep(&p, ",")) != NULL) {
			if (n == NC_AUTH_MAX_KEYS) {
				pr_warn("netchannel: auth_key not set: more than %d keys\n",
					NC_AUTH_MAX_KEYS);
				err = -EINVAL;
				break;
			}
			tok = strim(tok);
			if (strlen(tok) != 2 * NC_AUTH_KEY_LEN ||
			    hex2bin(keys[n].key, tok, NC_AUTH_KEY_LEN)) {
				pr_warn("netchannel: auth_key not set: key %d is not %d hex digits (%zu characters)\n",
					n + 1, 2 * NC_AUTH_KEY_LEN, strlen(tok));
				err = -EINVAL;
				break;
			}
			err = nc_hmac(keys[n].key, (const u8 *)nc_label_id,
				      NC_LABEL_LEN, mac);
			if (err) {
				pr_warn("netchannel: auth_key not set: this kernel has no hmac(sha256) (CONFIG_CRYPTO_HMAC, CONFIG_CRYPTO_SHA256): %d\n",
					err);
				break;
			}
			memcpy(keys[n].id, mac, NC_AUTH_ID_LEN);
			n++;
		}
	}
	memzero_explicit(s, sizeof(s));
	if (!err) {
		was = nc_auth_nkeys;
		spin_lock(&nc_auth_lock);
		for (i = 0; i < n; i++)
			nc_auth_keys[i] = keys[i];
		memzero_explicit(&nc_auth_keys[n],
				 (NC_AUTH_MAX_KEYS - n) * sizeof(keys[0]));
		WRITE_ONCE(nc_auth_nkeys, n);
		spin_unlock(&nc_auth_lock);
		if (n)
			pr_info("netchannel: cluster key set, key id %*phN%s%*phN; channels set up from now on authenticate\n",
				NC_AUTH_ID_LEN, keys[0].id,
				n > 1 ? ", also accepted " : "",
				n > 1 ? NC_AUTH_ID_LEN : 0, keys[n - 1].id);
		else
			pr_info("netchannel: cluster key cleared; channels set up from now on do not authenticate\n");
	}
	memzero_explicit(keys, sizeof(keys));
	return err ? err : !was && n;
}

void nc_auth_show(struct seq_file *m)
{
	u8 ids[NC_AUTH_MAX_KEYS][NC_AUTH_ID_LEN];
	int i, n;

	spin_lock(&nc_auth_lock);
	n = nc_auth_nkeys;
	for (i = 0; i < n; i++)
		memcpy(ids[i], nc_auth_keys[i].id, NC_AUTH_ID_LEN);
	spin_unlock(&nc_auth_lock);
	if (!n) {
		seq_puts(m, "auth off\n");
		return;
	}
	seq_puts(m, "auth key_id");
	for (i = 0; i < n; i++)
		seq_printf(m, " %*phN", NC_AUTH_ID_LEN, ids[i]);
	seq_putc(m, '\n');
}

void nc_auth_exit(void)
{
	spin_lock(&nc_auth_lock);
	memzero_explicit(nc_auth_keys, sizeof(nc_auth_keys));
	nc_auth_nkeys = 0;
	spin_unlock(&nc_auth_lock);
}

/* Both addresses of a connected socket, host order. */
static int nc_auth_addrs(struct socket *sock, u32 *lip, u16 *lport, u32 *rip,
			 u16 *rport)
{
	struct sockaddr_in sin;
	int err;

	err = kernel_getsockname(sock, (struct sockaddr *)&sin);
	if (err < 0)
		return err;
	*lip = ntohl(sin.sin_addr.s_addr);
	*lport = ntohs(sin.sin_port);
	err = kernel_getpeername(sock, (struct sockaddr *)&sin);
	if (err < 0)
		return err;
	*rip = ntohl(sin.sin_addr.s_addr);
	*rport = ntohs(sin.sin_port);
	return 0;
}

static void nc_sock_set_timeouts(struct sock *sk, long t)
{
	lock_sock(sk);
	sk->sk_rcvtimeo = t;
	sk->sk_sndtimeo = t;
	release_sock(sk);
}

static int nc_send_all(struct socket *sock, void *buf, size_t len, int flags)
{
	struct msghdr msg = { .msg_flags = flags | MSG_NOSIGNAL };
	struct kvec kv = { .iov_base = buf, .iov_len = len };
	int n = kernel_sendmsg(sock, &msg, &kv, 1, len);

	return n == (int)len ? 0 : n < 0 ? n : -EIO;
}

/* len bytes, all of them by the deadline (an acceptor that trickles them cannot stretch it) */
static int nc_recv_all(struct socket *sock, void *buf, size_t len,
		       unsigned long deadline)
{
	size_t got = 0;

	while (got < len) {
		struct msghdr msg = { };
		struct kvec kv = { .iov_base = buf + got, .iov_len = len - got };
		long left = (long)(deadline - jiffies);
		int n;

		if (left <= 0)
			return -EAGAIN;
		nc_sock_set_timeouts(sock->sk, left);
		n = kernel_recvmsg(sock, &msg, &kv, 1, len - got, MSG_WAITALL);
		if (n <= 0)
			return n ? n : -ECONNRESET;
		got += n;
	}
	return 0;
}

int nc_auth_connect(struct socket *sock, u16 idx, bool latency,
		    struct nc_txframe **proof, const char **why)
{
	struct nc_hdr h = {
		.version = NC_DP_VERSION,
		.type = NC_T_HELLO,
		.flags = NC_F_AUTH | (latency ? NC_F_LATENCY : 0),
		.sport = idx,
		.dport = latency,
		.conn_id = nc_cfg.local_ip,
		.len = NC_AUTH_HELLO_LEN,
		.credit = NC_CAPS_KNOWN,
		.vmask = NC_DP_VMASK,
	};
	struct nc_auth_ctx ctx = {
		.idx = idx, .latency = latency, .vmask = NC_DP_VMASK,
	};
	u8 buf[NC_HDR_MAX + NC_AUTH_CHALLENGE_LEN], mac[NC_AUTH_MAC_LEN];
	long t = msecs_to_jiffies(READ_ONCE(nc_tun.hello_timeout_ms));
	struct nc_txframe *f = NULL;
	struct nc_auth_key k;
	struct nc_hdr r;
	u32 hl;
	int err;

	*why = "no cluster key";
	err = nc_auth_current(&k);
	if (err)
		return err;
	*why = "cannot read the channel's addresses";
	err = nc_auth_addrs(sock, &ctx.ip_c, &ctx.port_c, &ctx.ip_a,
			    &ctx.port_a);
	if (err)
		goto out;
	get_random_bytes(ctx.nonce_c, NC_AUTH_NONCE_LEN);
	hl = nc_hdr_encode_v(&h, buf, sizeof(buf));
	memcpy(buf + hl, k.id, NC_AUTH_ID_LEN);
	memcpy(buf + hl + NC_AUTH_ID_LEN, ctx.nonce_c, NC_AUTH_NONCE_LEN);

	nc_sock_set_timeouts(sock->sk, t);
	*why = "cannot send HELLO";
	err = nc_send_all(sock, buf, hl + NC_AUTH_HELLO_LEN, 0);
	if (err)
		goto out_timeouts;
	err = nc_recv_all(sock, buf, NC_HDR_LEN + NC_AUTH_CHALLENGE_LEN,
			  jiffies + t);
	if (err) {
		*why = err == -EAGAIN ? nc_why_silent : nc_why_closed;
		goto out_timeouts;
	}
	*why = "the acceptor's answer is not an authentication challenge";
	err = -EPROTO;
	if (nc_hdr_parse(buf, NC_HDR_LEN, NC_DP_VMASK, &r) != NC_HDR_LEN ||
	    r.type != NC_T_AUTH || r.len != NC_AUTH_CHALLENGE_LEN)
		goto out_timeouts;
	memcpy(ctx.nonce_a, buf + NC_HDR_LEN, NC_AUTH_NONCE_LEN);
	*why = "cannot compute HMAC-SHA256";
	err = nc_auth_mac(&k, nc_label_a, &ctx, mac);
	if (err)
		goto out_timeouts;
	*why = "the acceptor does not hold this host's cluster key";
	err = -EACCES;
	if (crypto_memneq(mac, buf + NC_HDR_LEN + NC_AUTH_NONCE_LEN,
			  NC_AUTH_MAC_LEN))
		goto out_timeouts;

	h = (struct nc_hdr){ .type = NC_T_AUTH, .len = NC_AUTH_PROOF_LEN };
	*why = "out of memory";
	err = -ENOMEM;
	f = nc_txframe_alloc(&h, GFP_KERNEL);
	if (!f)
		goto out_timeouts;
	*why = "cannot compute HMAC-SHA256";
	err = nc_auth_mac(&k, nc_label_c, &ctx, f->buf + f->len - NC_AUTH_PROOF_LEN);
	if (err) {
		kfree(f);
		f = NULL;
	}
out_timeouts:
	nc_sock_set_timeouts(sock->sk, MAX_SCHEDULE_TIMEOUT);
out:
	memzero_explicit(&k, sizeof(k));
	*proof = f;
	return err;
}

int nc_auth_challenge(struct socket *sock, const struct nc_hdr *h,
		      const u8 *payload, struct nc_auth_wait *w,
		      const char **why)
{
	struct nc_hdr a = {
		.version = NC_DP_VERSION,
		.type = NC_T_AUTH,
		.len = NC_AUTH_CHALLENGE_LEN,
	};
	u8 buf[NC_HDR_MAX + NC_AUTH_CHALLENGE_LEN];
	struct nc_auth_ctx *c = &w->ctx;
	u32 hl;
	int err;

	memset(w, 0, sizeof(*w));
	*why = "it uses another cluster key (its key id is not this host's)";
	err = nc_auth_find(payload, &w->key);
	if (err)
		return err;
	*why = "cannot read the channel's addresses";
	err = nc_auth_addrs(sock, &c->ip_a, &c->port_a, &c->ip_c, &c->port_c);
	if (err)
		goto fail;
	c->idx = h->sport;
	c->latency = h->flags & NC_F_LATENCY;
	c->vmask = h->vmask;
	memcpy(c->nonce_c, payload + NC_AUTH_ID_LEN, NC_AUTH_NONCE_LEN);
	get_random_bytes(c->nonce_a, NC_AUTH_NONCE_LEN);
	hl = nc_hdr_encode_v(&a, buf, sizeof(buf));
	memcpy(buf + hl, c->nonce_a, NC_AUTH_NONCE_LEN);
	*why = "cannot compute HMAC-SHA256";
	err = nc_auth_mac(&w->key, nc_label_a, c,
			  buf + hl + NC_AUTH_NONCE_LEN);
	if (err)
		goto fail;
	*why = "cannot send the challenge";
	err = nc_send_all(sock, buf, hl + NC_AUTH_CHALLENGE_LEN, MSG_DONTWAIT);
	if (!err)
		return 0;
fail:
	memzero_explicit(w, sizeof(*w));
	return err;
}

int nc_auth_check_proof(struct nc_auth_wait *w, const u8 *payload, u32 len)
{
	u8 mac[NC_AUTH_MAC_LEN];
	int err = -EACCES;

	if (len == NC_AUTH_PROOF_LEN &&
	    !nc_auth_mac(&w->key, nc_label_c, &w->ctx, mac) &&
	    !crypto_memneq(mac, payload, NC_AUTH_MAC_LEN))
		err = 0;
	memzero_explicit(w, sizeof(*w));
	memzero_explicit(mac, sizeof(mac));
	return err;
}
