// SPDX-License-Identifier: GPL-2.0
/*
 * nc_hostcfg.c - parse and validate the host-table string.
 * Pure logic shared by the kernel module and the unit tests.
 */
#include "nc_hostcfg.h"

#define NC_SEEN_LOCAL	0x01
#define NC_SEEN_PEERS	0x02
#define NC_SEEN_BULK	0x04
#define NC_SEEN_LAT	0x08
#define NC_SEEN_PORT	0x10
#define NC_SEEN_CPUS	0x20

void nc_hostcfg_defaults(struct nc_hostcfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->bulk = 2;
	cfg->lat = 1;
	cfg->port = 9000;
}

static int nc_cfg_fail(struct nc_cfg_error *err, const char *base,
		       const char *tok, size_t toklen, const char *msg)
{
	size_t n;

	if (!err)
		return -EINVAL;
	err->pos = (int)(tok - base);
	n = toklen < sizeof(err->token) - 1 ? toklen : sizeof(err->token) - 1;
	memcpy(err->token, tok, n);
	err->token[n] = '\0';
	n = strlen(msg);
	if (n > sizeof(err->msg) - 1)
		n = sizeof(err->msg) - 1;
	memcpy(err->msg, msg, n);
	err->msg[n] = '\0';
	return -EINVAL;
}

static bool nc_isdigit(char c)
{
	return c >= '0' && c <= '9';
}

/* Strict decimal: no sign, no leading zeros (except "0"), <= max. */
static int nc_parse_uint(const char *s, size_t len, u32 max, u32 *out)
{
	u64 v = 0;
	size_t i;

	if (!len || len > 10)
		return -EINVAL;
	if (len > 1 && s[0] == '0')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!nc_isdigit(s[i]))
			return -EINVAL;
		v = v * 10 + (u64)(s[i] - '0');
	}
	if (v > max)
		return -ERANGE;
	*out = (u32)v;
	return 0;
}

/* Dotted quad, exactly four decimal octets, host byte order result. */
int nc_parse_ipv4(const char *s, size_t len, u32 *out)
{
	u32 ip = 0, octet;
	size_t start = 0, i;
	int parts = 0;

	for (i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (parts == 4)
			return -EINVAL;
		if (nc_parse_uint(s + start, i - start, 255, &octet))
			return -EINVAL;
		ip = ip << 8 | octet;
		parts++;
		start = i + 1;
	}
	if (parts != 4)
		return -EINVAL;
	*out = ip;
	return 0;
}

/* Addresses that can never be a channel endpoint. */
static const char *nc_ip_unusable(u32 ip)
{
	if (ip == 0)
		return "unspecified address 0.0.0.0";
	if ((ip >> 24) == 0)
		return "address in 0.0.0.0/8";
	if ((ip >> 28) == 0xe)
		return "multicast address";
	if ((ip >> 28) == 0xf)
		return "reserved or broadcast address";
	return NULL;
}

static void nc_cpu_set(struct nc_hostcfg *cfg, u32 cpu)
{
	u64 bit = 1ULL << (cpu % 64);

	if (!(cfg->cpus[cpu / 64] & bit)) {
		cfg->cpus[cpu / 64] |= bit;
		cfg->ncpus++;
	}
}

bool nc_hostcfg_cpu_isset(const struct nc_hostcfg *cfg, u32 cpu)
{
	if (cpu >= NC_MAX_CPUS)
		return false;
	return cfg->cpus[cpu / 64] & (1ULL << (cpu % 64));
}

int nc_hostcfg_peer_index(const struct nc_hostcfg *cfg, u32 ip)
{
	u32 i;

	if (ip == cfg->local_ip)
		return 0;
	for (i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i] == ip)
			return (int)i + 1;
	return -1;
}

/* Parse the comma-separated peer list [v, v+vlen) into cfg->peers. */
static int nc_parse_peers(const char *base, const char *v, size_t vlen,
			  struct nc_hostcfg *cfg, struct nc_cfg_error *err)
{
	size_t start = 0, i;
	const char *why;
	u32 ip, k;

	if (!vlen)
		return 0;
	for (i = 0; i <= vlen; i++) {
		const char *item = v + start;
		size_t ilen = i - start;

		if (i < vlen && v[i] != ',')
			continue;
		start = i + 1;
		if (!ilen)
			return nc_cfg_fail(err, base, item, 0,
					   "empty entry in peers list");
		if (nc_parse_ipv4(item, ilen, &ip))
			return nc_cfg_fail(err, base, item, ilen,
					   "peer is not a dotted-quad IPv4 address");
		why = nc_ip_unusable(ip);
		if (why)
			return nc_cfg_fail(err, base, item, ilen, why);
		for (k = 0; k < cfg->npeers; k++)
			if (cfg->peers[k] == ip)
				return nc_cfg_fail(err, base, item, ilen,
						   "duplicate peer");
		if (cfg->npeers == NC_MAX_PEERS)
			return nc_cfg_fail(err, base, item, ilen,
					   "too many peers (max 32)");
		cfg->peers[cfg->npeers++] = ip;
	}
	return 0;
}

static int nc_parse_cpus(const char *base, const char *v, size_t vlen,
			 struct nc_hostcfg *cfg, struct nc_cfg_error *err)
{
	size_t start = 0, i, dash;
	u32 lo, hi, c;

	if (!vlen)
		return nc_cfg_fail(err, base, v, 0, "empty cpu list");
	for (i = 0; i <= vlen; i++) {
		const char *item = v + start;
		size_t ilen = i - start;

		if (i < vlen && v[i] != ',')
			continue;
		start = i + 1;
		if (!ilen)
			return nc_cfg_fail(err, base, item, 0,
					   "empty entry in cpu list");
		for (dash = 0; dash < ilen && item[dash] != '-'; dash++)
			;
		if (nc_parse_uint(item, dash, NC_MAX_CPUS - 1, &lo))
			return nc_cfg_fail(err, base, item, ilen,
					   "cpu is not a number below 256");
		hi = lo;
		if (dash < ilen &&
		    nc_parse_uint(item + dash + 1, ilen - dash - 1,
				  NC_MAX_CPUS - 1, &hi))
			return nc_cfg_fail(err, base, item, ilen,
					   "cpu range end is not a number below 256");
		if (hi < lo)
			return nc_cfg_fail(err, base, item, ilen,
					   "cpu range end before start");
		for (c = lo; c <= hi; c++)
			nc_cpu_set(cfg, c);
	}
	return 0;
}

static bool nc_key_is(const char *k, size_t klen, const char *name)
{
	return strlen(name) == klen && !memcmp(k, name, klen);
}

int nc_hostcfg_parse(const char *s, struct nc_hostcfg *cfg,
		     struct nc_cfg_error *err)
{
	unsigned int seen = 0, bit;
	size_t len, start = 0, i, eq;
	const char *why;
	u32 v;
	int ret;

	if (err)
		memset(err, 0, sizeof(*err));
	nc_hostcfg_defaults(cfg);
	if (!s)
		return nc_cfg_fail(err, "", "", 0, "no configuration string");
	for (len = 0; len <= NC_CFG_MAX_LEN && s[len]; len++)
		;
	if (len > NC_CFG_MAX_LEN)
		return nc_cfg_fail(err, s, s, 0, "configuration string too long");

	for (i = 0; i <= len; i++) {
		const char *tok = s + start;
		size_t toklen = i - start;
		const char *val;
		size_t vlen;

		if (i < len && s[i] != ';')
			continue;
		start = i + 1;
		if (!toklen) {
			if (i == len && i > 0)
				break;		/* trailing ';' */
			return nc_cfg_fail(err, s, tok, 0, "empty item");
		}
		for (eq = 0; eq < toklen && tok[eq] != '='; eq++)
			;
		if (eq == toklen)
			return nc_cfg_fail(err, s, tok, toklen,
					   "expected key=value");
		val = tok + eq + 1;
		vlen = toklen - eq - 1;

		if (nc_key_is(tok, eq, "local"))
			bit = NC_SEEN_LOCAL;
		else if (nc_key_is(tok, eq, "peers"))
			bit = NC_SEEN_PEERS;
		else if (nc_key_is(tok, eq, "bulk"))
			bit = NC_SEEN_BULK;
		else if (nc_key_is(tok, eq, "lat"))
			bit = NC_SEEN_LAT;
		else if (nc_key_is(tok, eq, "port"))
			bit = NC_SEEN_PORT;
		else if (nc_key_is(tok, eq, "cpus"))
			bit = NC_SEEN_CPUS;
		else
			return nc_cfg_fail(err, s, tok, toklen, "unknown key");
		if (seen & bit)
			return nc_cfg_fail(err, s, tok, toklen, "duplicate key");
		seen |= bit;

		switch (bit) {
		case NC_SEEN_LOCAL:
			if (nc_parse_ipv4(val, vlen, &cfg->local_ip))
				return nc_cfg_fail(err, s, tok, toklen,
						   "local is not a dotted-quad IPv4 address");
			why = nc_ip_unusable(cfg->local_ip);
			if (why)
				return nc_cfg_fail(err, s, tok, toklen, why);
			break;
		case NC_SEEN_PEERS:
			ret = nc_parse_peers(s, val, vlen, cfg, err);
			if (ret)
				return ret;
			break;
		case NC_SEEN_BULK:
			if (nc_parse_uint(val, vlen, NC_MAX_CLASS_CHANNELS, &v) ||
			    v < 1)
				return nc_cfg_fail(err, s, tok, toklen,
						   "bulk must be 1..16");
			cfg->bulk = v;
			break;
		case NC_SEEN_LAT:
			if (nc_parse_uint(val, vlen, NC_MAX_CLASS_CHANNELS, &v))
				return nc_cfg_fail(err, s, tok, toklen,
						   "lat must be 0..16");
			cfg->lat = v;
			break;
		case NC_SEEN_PORT:
			if (nc_parse_uint(val, vlen, 65535, &v) || v < 1)
				return nc_cfg_fail(err, s, tok, toklen,
						   "port must be 1..65535");
			cfg->port = (u16)v;
			break;
		case NC_SEEN_CPUS:
			ret = nc_parse_cpus(s, val, vlen, cfg, err);
			if (ret)
				return ret;
			break;
		}
	}
	if (!(seen & NC_SEEN_LOCAL))
		return nc_cfg_fail(err, s, s, 0, "missing required key local");

	/* The local address is implicitly peer 0; drop it from the list. */
	for (i = 0; i < cfg->npeers; i++) {
		if (cfg->peers[i] != cfg->local_ip)
			continue;
		cfg->npeers--;
		memmove(&cfg->peers[i], &cfg->peers[i + 1],
			(cfg->npeers - i) * sizeof(cfg->peers[0]));
		break;
	}
	return 0;
}
