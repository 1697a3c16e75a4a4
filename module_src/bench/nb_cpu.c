// SPDX-License-Identifier: GPL-2.0
/*
 * ncbench - CPU accounting over the measured window: the process's user
 * and system time (getrusage) and the host's busy time (/proc/stat).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include "nb.h"

int nb_cpu_parse_stat(const char *text, uint64_t *busy, uint64_t *total)
{
	uint64_t v[8] = { 0 };
	const char *p = text;
	int n;

	/* the aggregate line is "cpu" followed by blanks, not "cpu0" */
	while (p && strncmp(p, "cpu ", 4)) {
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	if (!p)
		return -1;
	/* user nice system idle iowait irq softirq steal (guest is in user) */
	n = sscanf(p + 4, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
		   " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	if (n < 4)
		return -1;
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
	*total = *busy + v[3] + v[4];
	return 0;
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int nb_cpu_snapshot(struct nb_cpu_snap *s)
{
	struct rusage ru;
	struct timespec ts;
	char buf[4096];
	size_t n;
	FILE *f;

	memset(s, 0, sizeof(*s));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	s->t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	if (getrusage(RUSAGE_SELF, &ru))
		return -1;
	s->user_s = tv_s(ru.ru_utime);
	s->sys_s = tv_s(ru.ru_stime);
	f = fopen("/proc/stat", "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return nb_cpu_parse_stat(buf, &s->busy_ticks, &s->total_ticks);
}

void nb_cpu_diff(const struct nb_cpu_snap *a, const struct nb_cpu_snap *b,
		 long hz, int ncpus, struct nb_cpu_use *u)
{
	uint64_t busy = b->busy_ticks >= a->busy_ticks ? b->busy_ticks - a->busy_ticks : 0;
	uint64_t total = b->total_ticks >= a->total_ticks ? b->total_ticks - a->total_ticks : 0;

	memset(u, 0, sizeof(*u));
	u->window_s = b->t > a->t ? b->t - a->t : 0;
	u->user_s = b->user_s - a->user_s;
	u->sys_s = b->sys_s - a->sys_s;
	u->host_cpus = ncpus;
	if (u->window_s > 0) {
		u->proc_cores = (u->user_s + u->sys_s) / u->window_s;
		if (hz > 0)
			u->host_busy_cores = (double)busy / (double)hz / u->window_s;
	}
	if (total)
		u->host_util = (double)busy / (double)total;
}

double nb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
