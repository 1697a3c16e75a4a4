/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_hostcfg.h - the NetChannel host table and its textual form.
 *
 * The table is normally compiled in from nc_hosts.h (rendered from
 * templates/nc_hosts.h.j2) and can be overridden by the "hosts" module
 * parameter.  Both use the same string syntax:
 *
 *   local=198.18.0.1;peers=198.18.0.2,198.18.0.3;bulk=4;lat=2;port=9000;cpus=0-1
 *
 * Keys: local (required, IPv4), peers (comma list of IPv4, may be empty;
 * the local address is always a peer of itself and may be listed),
 * bulk (1..NC_MAX_CLASS_CHANNELS), lat (0..NC_MAX_CLASS_CHANNELS),
 * port (1..65535), cpus (comma list of N or N-M, N < NC_MAX_CPUS).
 * A trailing ';' is allowed; whitespace is not.
 */
#ifndef _NC_HOSTCFG_H
#define _NC_HOSTCFG_H

#include "nc_compat.h"

#define NC_MAX_PEERS		32
#define NC_MAX_CLASS_CHANNELS	16
#define NC_MAX_CPUS		256
#define NC_CFG_MAX_LEN		1024

struct nc_hostcfg {
	u32 local_ip;			/* host byte order */
	u32 npeers;			/* remote peers, local excluded */
	u32 peers[NC_MAX_PEERS];	/* host byte order */
	u32 bulk;
	u32 lat;
	u16 port;
	u32 ncpus;			/* number of bits set in cpus */
	u64 cpus[NC_MAX_CPUS / 64];
};

struct nc_cfg_error {
	int pos;		/* byte offset of the offending token */
	char token[40];		/* the token (truncated) */
	char msg[80];		/* why it was rejected */
};

void nc_hostcfg_defaults(struct nc_hostcfg *cfg);
int nc_hostcfg_parse(const char *s, struct nc_hostcfg *cfg,
		     struct nc_cfg_error *err);
int nc_parse_ipv4(const char *s, size_t len, u32 *out);
bool nc_hostcfg_cpu_isset(const struct nc_hostcfg *cfg, u32 cpu);
/* Index of a peer address: 0 for local, 1..npeers for peers, else -1. */
int nc_hostcfg_peer_index(const struct nc_hostcfg *cfg, u32 ip);

#endif /* _NC_HOSTCFG_H */
