// SPDX-License-Identifier: GPL-2.0
/*
 * nc_sockets.c - the virtual socket layers, built as one unit.
 *
 * The sources are one file per layer ("Virtual sockets" in nc_impl.h;
 * tests/unit/test_module_layers.py keeps the calls going down), but they
 * are compiled together: each kernel C file parses the same large set of
 * headers, and every host builds the module with DKMS, where five units
 * instead of one cost minutes on a small or emulated machine.
 */
#include "nc_plumbing.c"
#include "nc_incoming.c"
#include "nc_outgoing.c"
#include "nc_sock.c"
#include "nc_mem.c"
