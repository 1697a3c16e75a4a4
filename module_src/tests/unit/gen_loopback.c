// SPDX-License-Identifier: GPL-2.0
/* Compiled against a header rendered from templates/nc_hosts.h.j2 with
 * the loopback values of nc_hosts_default.h (see Makefile). */
#include "nc_hosts.h"

const char *nc_rendered_loopback_config = NC_HOSTS_CONFIG;
