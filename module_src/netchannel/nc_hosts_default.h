/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_hosts_default.h - loopback-only host table, rendered by hand from
 * templates/nc_hosts.h.j2 with:
 *   netchannel_local_ip=127.0.0.1, netchannel_peers=[],
 *   netchannel_bulk_channels=2, netchannel_lat_channels=1,
 *   netchannel_port=9000, netchannel_cpus="0".
 * Used when no generated nc_hosts.h is present (see Kbuild).
 */
#ifndef _NC_HOSTS_H
#define _NC_HOSTS_H

#define NC_HOSTS_LOCAL_IP	"127.0.0.1"
#define NC_HOSTS_PEERS		""
#define NC_HOSTS_BULK		2
#define NC_HOSTS_LAT		1
#define NC_HOSTS_PORT		9000
#define NC_HOSTS_CPUS		"0"

#define NC_HOSTS_CONFIG							\
	"local=" NC_HOSTS_LOCAL_IP					\
	";peers=" NC_HOSTS_PEERS					\
	";bulk=2"							\
	";lat=1"							\
	";port=9000"							\
	";cpus=" NC_HOSTS_CPUS

#endif /* _NC_HOSTS_H */
