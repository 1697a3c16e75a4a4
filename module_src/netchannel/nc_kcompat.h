/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_kcompat.h - the kernel API changes between Linux 6.1 and 6.12 that the
 * module meets, in one place.  Kernel only: the pure-logic files that the
 * unit tests build use nc_compat.h instead.
 *
 *   6.5   proto_ops.sendpage removed (splice goes through sendmsg)
 *   6.6   register_net_sysctl_sz() takes the table's size
 *   6.10  proto_ops.accept takes struct proto_accept_arg
 *   6.11  proc handlers take a const struct ctl_table; the empty
 *         sentinel entry at the end of a table is no longer allowed
 *   6.3   memcg_kmem_enabled() renamed memcg_kmem_online()
 */
#ifndef _NC_KCOMPAT_H
#define _NC_KCOMPAT_H

#include <linux/version.h>

#define NC_HAS_SENDPAGE		(LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0))
#define NC_HAS_SYSCTL_SZ	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0))
#define NC_HAS_ACCEPT_ARG	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 10, 0))
#define NC_HAS_CONST_CTL	(LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0))

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 3, 0)
#define nc_memcg_kmem_on()	memcg_kmem_enabled()
#else
#define nc_memcg_kmem_on()	memcg_kmem_online()
#endif

#endif /* _NC_KCOMPAT_H */
