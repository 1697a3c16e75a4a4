// SPDX-License-Identifier: GPL-2.0
/* Compiled against a header rendered from templates/nc_hosts.h.j2 with
 * a three-host 198.18.0.0/15 example (see Makefile). */
#include "nc_hosts.h"

const char *nc_rendered_example_config = NC_HOSTS_CONFIG;
const int nc_rendered_example_bulk = NC_HOSTS_BULK;
