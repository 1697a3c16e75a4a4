/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nc_compat.h - the only place where the pure-logic files (nc_wire.c,
 * nc_credit.c, nc_hostcfg.c, nc_demux.c, nc_reorder.c, nc_stripe.c) learn
 * whether they are built into the kernel module or into the user-space
 * unit tests.
 *
 * The pure-logic files must not include any other kernel or libc header.
 */
#ifndef _NC_COMPAT_H
#define _NC_COMPAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/rcupdate.h>

/* a table pointer read by its writer, who holds the table's lock */
#define nc_rcu_locked(p)	rcu_dereference_protected(p, 1)
/* a table pointer read without the lock, under rcu_read_lock() */
#define nc_rcu_deref(p)		rcu_dereference(p)
#else
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>

/* compiler-provided fixed-width types, same as the kernel's */
typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;
typedef __INT32_TYPE__ s32;
typedef __INT64_TYPE__ s64;

#ifndef EPROTO
#define EPROTO 71
#endif
#ifndef U64_MAX
#define U64_MAX ((u64)~0ULL)
#endif

/*
 * The kernel's memory-ordering primitives as C11 atomics, so that the
 * lock-free lookup can be run from several threads in the tests.
 */
#define __rcu
#define READ_ONCE(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
/* loads before the barrier before loads after it */
#define smp_rmb()		__atomic_thread_fence(__ATOMIC_ACQUIRE)
/* stores before the barrier before stores after it */
#define smp_wmb()		__atomic_thread_fence(__ATOMIC_RELEASE)
/* a store ordered after everything before it */
#define smp_store_release(p, v) __atomic_store_n(p, (v), __ATOMIC_RELEASE)
/* a load ordered before everything after it */
#define smp_load_acquire(p)	__atomic_load_n(p, __ATOMIC_ACQUIRE)
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#define RCU_INIT_POINTER(p, v)	__atomic_store_n(&(p), (v), __ATOMIC_RELAXED)
#define nc_rcu_locked(p)	__atomic_load_n(&(p), __ATOMIC_RELAXED)
#define nc_rcu_deref(p)		__atomic_load_n(&(p), __ATOMIC_ACQUIRE)

/* list_head and rb_node stand-ins for the tests (not kernel code) */
#include "../tests/unit/nc_kshim_user.h"
#endif /* __KERNEL__ */

/* Byte-order helpers on unaligned byte buffers, identical in both worlds. */
static inline void nc_put_be16(u8 *p, u16 v)
{
	p[0] = (u8)((v >> 8) & 0xff);
	p[1] = (u8)(v & 0xff);
}

static inline void nc_put_be32(u8 *p, u32 v)
{
	p[0] = (u8)((v >> 24) & 0xff);
	p[1] = (u8)((v >> 16) & 0xff);
	p[2] = (u8)((v >> 8) & 0xff);
	p[3] = (u8)(v & 0xff);
}

static inline u16 nc_get_be16(const u8 *p)
{
	return (u16)((u16)p[0] << 8 | p[1]);
}

static inline u32 nc_get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

/* Wrap-aware comparison of 32-bit sequence-like counters. */
static inline bool nc_seq_before(u32 a, u32 b)
{
	return (s32)(a - b) < 0;
}

#endif /* _NC_COMPAT_H */
