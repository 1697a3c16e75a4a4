// SPDX-License-Identifier: GPL-2.0
/*
 * nc_main.c - NetChannel module: load/unload, configuration, sysctls,
 * /proc/net/netchannel and counters.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/init.h>
#include <linux/slab.h>
#include <linux/cpumask.h>
#include <linux/sysctl.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <net/net_namespace.h>
#include <net/tcp.h>

#include "nc_impl.h"

#ifdef NC_HAVE_GENERATED_HOSTS
#include "nc_hosts.h"		/* rendered by the Ansible role */
#else
#include "nc_hosts_default.h"	/* loopback only */
#endif

static char *hosts;
module_param(hosts, charp, 0444);
MODULE_PARM_DESC(hosts,
		 "host table override, e.g. local=198.18.0.1;peers=198.18.0.2;bulk=4;lat=2;port=9000;cpus=0-1");

/*
 * Not a secret, so a module parameter: with it, no channel is set up
 * without the cluster key, not even in the moment between the load and
 * the key being written (the role sets it in /etc/modprobe.d).
 */
bool nc_auth_required;
module_param_named(auth_required, nc_auth_required, bool, 0644);
MODULE_PARM_DESC(auth_required,
		 "refuse channels without the cluster key, and open none, until net.netchannel.auth_key is set");

DEFINE_PER_CPU(struct nc_stats, nc_stats);

struct nc_tunables nc_tun = {
	.connect_timeout_ms	= 10000,
	.chan_wait_ms		= 3000,
	.retry_min_ms		= 100,
	.retry_max_ms		= 5000,
	.latency_priority	= NETCHANNEL_LATENCY_PRIORITY,
	.default_window		= 4 << 20,
	.debug			= 0,
	/*
	 * A silent peer is noticed after 12 s of unacknowledged data, or
	 * at the first probe after 12 s on an idle channel (probes at 5, 7,
	 * 9, 11, 13 s): with a user timeout, TCP ignores the probe count.
	 */
	.keepalive_time_s	= 5,
	.keepalive_intvl_s	= 2,
	.keepalive_probes	= 3,
	.user_timeout_ms	= 12000,
	.hello_timeout_ms	= 5000,
	.max_pending_per_peer	= 0,
	.latency_dscp		= 46,
	.stripe			= 1,
	.drr			= 1,
	.bulk_notsent_lowat	= NC_BULK_NOTSENT_LOWAT,
	.reset_rate		= 1000,
};

struct nc_hostcfg nc_cfg;
struct workqueue_struct *nc_bulk_wq;
struct workqueue_struct *nc_lat_wq;
struct workqueue_struct *nc_ctl_wq;

static struct ctl_table_header *nc_sysctl_hdr;
static struct proc_dir_entry *nc_proc;

static int nc_zero;
static int nc_one = 1;
static int nc_ms_max = 3600 * 1000;
static int nc_prio_max = 7;
static int nc_win_min = NC_WIN_MIN;
static int nc_win_max = NC_WIN_MAX;
static int nc_keep_max = MAX_TCP_KEEPIDLE;
static int nc_keepcnt_max = MAX_TCP_KEEPCNT;
static int nc_hello_min = 100;
static int nc_hello_max = 60000;
static int nc_pending_max = 1024;
static int nc_dscp_max = 63;
static int nc_rate_max = NC_BUCKET_RATE_MAX;

static int nc_reset_trigger;
static DEFINE_MUTEX(nc_auth_mutex);

#if NC_HAS_CONST_CTL
static int nc_reset_channels_handler(const struct ctl_table *table, int write,
				     void *buffer, size_t *lenp, loff_t *ppos)
#else
static int nc_reset_channels_handler(struct ctl_table *table, int write,
				     void *buffer, size_t *lenp, loff_t *ppos)
#endif
{
	struct ctl_table t = *table;
	int val = 0, err;

	t.data = &val;
	err = proc_dointvec_minmax(&t, write, buffer, lenp, ppos);
	if (!err && write && val == 1) {
		pr_info("netchannel: resetting all outbound channels on request\n");
		nc_chan_reset_all();
	}
	return err;
}

/*
 * auth_key: write-only, root only (mode 0200 and CAP_NET_ADMIN), the
 * whole value in one write.  The kernel's copy of what was written is
 * wiped once parsed; reading it is refused even to root.
 */
#if NC_HAS_CONST_CTL
static int nc_auth_key_handler(const struct ctl_table *table, int write,
			       void *buffer, size_t *lenp, loff_t *ppos)
#else
static int nc_auth_key_handler(struct ctl_table *table, int write,
			       void *buffer, size_t *lenp, loff_t *ppos)
#endif
{
	int err;

	if (!write || !capable(CAP_NET_ADMIN))
		return -EPERM;
	if (*ppos) {
		pr_warn("netchannel: auth_key not set: the value must come in one write\n");
		err = -EINVAL;
	} else {
		mutex_lock(&nc_auth_mutex);
		err = nc_auth_set(buffer, *lenp);
		if (err == 1) {
			/* channels set up before the key did not authenticate */
			nc_chan_auth_on();
			err = 0;
		}
		mutex_unlock(&nc_auth_mutex);
	}
	memzero_explicit(buffer, *lenp);
	if (err)
		return err;
	*ppos += *lenp;
	return 0;
}

static struct ctl_table nc_sysctl_table[] = {
	{
		.procname	= NETCHANNEL_SYSCTL_CONNECT_TIMEOUT_MS,
		.data		= &nc_tun.connect_timeout_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_ms_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_CHAN_WAIT_MS,
		.data		= &nc_tun.chan_wait_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_ms_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_RETRY_MIN_MS,
		.data		= &nc_tun.retry_min_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_ms_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_RETRY_MAX_MS,
		.data		= &nc_tun.retry_max_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_ms_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_LATENCY_PRIORITY,
		.data		= &nc_tun.latency_priority,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_prio_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_DEFAULT_WINDOW,
		.data		= &nc_tun.default_window,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_win_min,
		.extra2		= &nc_win_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_DEBUG,
		.data		= &nc_tun.debug,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_one,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_KEEPALIVE_TIME_S,
		.data		= &nc_tun.keepalive_time_s,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_keep_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_KEEPALIVE_INTVL_S,
		.data		= &nc_tun.keepalive_intvl_s,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_keep_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_KEEPALIVE_PROBES,
		.data		= &nc_tun.keepalive_probes,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_keepcnt_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_USER_TIMEOUT_MS,
		.data		= &nc_tun.user_timeout_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_ms_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_HELLO_TIMEOUT_MS,
		.data		= &nc_tun.hello_timeout_ms,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_hello_min,
		.extra2		= &nc_hello_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_LATENCY_DSCP,
		.data		= &nc_tun.latency_dscp,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_dscp_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_MAX_PENDING_PER_PEER,
		.data		= &nc_tun.max_pending_per_peer,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_pending_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_RESET_CHANNELS,
		.data		= &nc_reset_trigger,
		.maxlen		= sizeof(int),
		.mode		= 0200,
		.proc_handler	= nc_reset_channels_handler,
		.extra1		= &nc_zero,
		.extra2		= &nc_one,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_STRIPE,
		.data		= &nc_tun.stripe,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_one,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_DRR,
		.data		= &nc_tun.drr,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_one,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_BULK_NOTSENT_LOWAT,
		.data		= &nc_tun.bulk_notsent_lowat,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_zero,
		.extra2		= &nc_win_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_RESET_RATE,
		.data		= &nc_tun.reset_rate,
		.maxlen		= sizeof(int),
		.mode		= 0644,
		.proc_handler	= proc_dointvec_minmax,
		.extra1		= &nc_one,
		.extra2		= &nc_rate_max,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_MEM,
		.data		= nc_mem,
		.maxlen		= sizeof(nc_mem),
		.mode		= 0644,
		.proc_handler	= proc_doulongvec_minmax,
	},
	{
		.procname	= NETCHANNEL_SYSCTL_AUTH_KEY,
		.maxlen		= 256,
		.mode		= 0200,
		.proc_handler	= nc_auth_key_handler,
	},
	{ }	/* before 6.6; later kernels get the size without it */
};

#define NC_STAT(name) { #name, offsetof(struct nc_stats, name) }
static const struct {
	const char *name;
	size_t off;
} nc_stat_fields[] = {
	NC_STAT(tx_frames), NC_STAT(tx_bytes), NC_STAT(rx_frames),
	NC_STAT(rx_bytes), NC_STAT(conn_opened), NC_STAT(conn_accepted),
	NC_STAT(conn_refused), NC_STAT(conn_reset), NC_STAT(credit_sent),
	NC_STAT(chan_up), NC_STAT(chan_down), NC_STAT(chan_connect_fail),
	NC_STAT(proto_errors), NC_STAT(unknown_conn), NC_STAT(chan_refused),
	NC_STAT(chan_evicted), NC_STAT(wire_refused), NC_STAT(auth_ok),
	NC_STAT(auth_failed), NC_STAT(mem_capped), NC_STAT(mem_refused),
	NC_STAT(mem_pressure),
	NC_STAT(stripe_switches),
	NC_STAT(rx_ooo), NC_STAT(rx_dups),
	NC_STAT(class_switches),
	NC_STAT(reset_limited),
	NC_STAT(lookup_locked),
	NC_STAT(ack_sent), NC_STAT(ack_rcvd), NC_STAT(ack_probes),
	NC_STAT(rtx_capped), NC_STAT(rtx_frames), NC_STAT(rtx_bytes),
	NC_STAT(ctl_rehomed), NC_STAT(conn_kept), NC_STAT(peer_timeouts),
	NC_STAT(credit_deferred),
};

static int nc_proc_show(struct seq_file *m, void *v)
{
	unsigned int i;
	int cpu;

	seq_printf(m, "netchannel wire_version %u local %pI4h port %u bulk %u lat %u peers %u\n",
		   NC_DP_VERSION, &nc_cfg.local_ip, nc_cfg.port, nc_cfg.bulk,
		   nc_cfg.lat, nc_cfg.npeers);
	nc_auth_show(m);
	nc_chan_seq_show(m);
	nc_sock_seq_show(m);
	seq_puts(m, "counter");
	for_each_possible_cpu(cpu)
		seq_printf(m, " cpu%d", cpu);
	seq_puts(m, " total\n");
	for (i = 0; i < ARRAY_SIZE(nc_stat_fields); i++) {
		u64 total = 0;

		seq_printf(m, "%s", nc_stat_fields[i].name);
		for_each_possible_cpu(cpu) {
			const u8 *base = (const u8 *)per_cpu_ptr(&nc_stats, cpu);
			u64 val = *(const u64 *)(base + nc_stat_fields[i].off);

			seq_printf(m, " %llu", val);
			total += val;
		}
		seq_printf(m, " %llu\n", total);
	}
	return 0;
}

static void nc_destroy_wqs(void)
{
	if (nc_ctl_wq)
		destroy_workqueue(nc_ctl_wq);
	if (nc_lat_wq)
		destroy_workqueue(nc_lat_wq);
	if (nc_bulk_wq)
		destroy_workqueue(nc_bulk_wq);
	nc_ctl_wq = NULL;
	nc_lat_wq = NULL;
	nc_bulk_wq = NULL;
}

static int __init nc_init(void)
{
	const char *cfgstr = hosts && *hosts ? hosts : NC_HOSTS_CONFIG;
	struct nc_cfg_error cerr;
	int err;

	err = nc_hostcfg_parse(cfgstr, &nc_cfg, &cerr);
	if (err) {
		pr_err("netchannel: bad host table (%s) at offset %d, token '%s': %s\n",
		       hosts && *hosts ? "hosts= parameter" : "nc_hosts.h",
		       cerr.pos, cerr.token, cerr.msg);
		return err;
	}

	nc_bulk_wq = alloc_workqueue("nc_bulk", 0, 0);
	nc_lat_wq = alloc_workqueue("nc_lat", WQ_HIGHPRI, 0);
	nc_ctl_wq = alloc_workqueue("nc_ctl", WQ_UNBOUND, 0);
	if (!nc_bulk_wq || !nc_lat_wq || !nc_ctl_wq) {
		err = -ENOMEM;
		goto fail_wq;
	}

	/*
	 * Everything the interfaces below reach exists before they are
	 * published: sockets and channels first, the sysctls and the proc
	 * file last.
	 */
	err = nc_sock_init();
	if (err)
		goto fail_wq;

	err = nc_chan_init();
	if (err)
		goto fail_sock;

#if NC_HAS_SYSCTL_SZ
	/* without the sentinel: 6.11 and later refuse an entry with no name */
	nc_sysctl_hdr = register_net_sysctl_sz(&init_net, NETCHANNEL_SYSCTL_DIR,
					       nc_sysctl_table,
					       ARRAY_SIZE(nc_sysctl_table) - 1);
#else
	nc_sysctl_hdr = register_net_sysctl(&init_net, NETCHANNEL_SYSCTL_DIR,
					    nc_sysctl_table);
#endif
	if (!nc_sysctl_hdr) {
		err = -ENOMEM;
		goto fail_chan;
	}

	nc_proc = proc_create_single(NETCHANNEL_PROC_NAME, 0444,
				     init_net.proc_net, nc_proc_show);
	if (!nc_proc) {
		err = -ENOMEM;
		goto fail_sysctl;
	}

	pr_info("netchannel: loaded, local %pI4h port %u, %u peer(s) + self, %u bulk + %u latency channels each\n",
		&nc_cfg.local_ip, nc_cfg.port, nc_cfg.npeers, nc_cfg.bulk,
		nc_cfg.lat);
	return 0;

fail_sysctl:
	unregister_net_sysctl_table(nc_sysctl_hdr);
	nc_sysctl_hdr = NULL;
fail_chan:
	nc_chan_exit();
fail_sock:
	nc_sock_exit();
fail_wq:
	nc_destroy_wqs();
	return err;
}

static void __exit nc_exit(void)
{
	/*
	 * Remove what users reach first: both calls wait for readers and
	 * writers that are inside, so nothing below can race with them.
	 */
	proc_remove(nc_proc);
	unregister_net_sysctl_table(nc_sysctl_hdr);
	nc_chan_exit();
	nc_sock_exit();
	nc_destroy_wqs();
	nc_auth_exit();
	pr_info("netchannel: unloaded\n");
}

module_init(nc_init);
module_exit(nc_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("NetChannel virtual sockets multiplexed over per-peer kernel TCP channels");
MODULE_AUTHOR("NetChannel, deployed");
/* socket(AF_INET, SOCK_STREAM or SOCK_DGRAM, IPPROTO_VIRTUAL_SOCK) autoloads */
MODULE_ALIAS_NET_PF_PROTO_TYPE(PF_INET, IPPROTO_VIRTUAL_SOCK, 1);
MODULE_ALIAS_NET_PF_PROTO_TYPE(PF_INET, IPPROTO_VIRTUAL_SOCK, 2);
