// SPDX-License-Identifier: GPL-2.0
/*
 * ncbench - log-linear latency histogram.  Values below NB_HIST_SUB are
 * exact; above, each power of two is split into NB_HIST_SUB/2..NB_HIST_SUB
 * steps, so a bucket is at most 1/NB_HIST_SUB of its lower bound wide.
 * Fixed memory (about 58 KiB), no samples kept.
 */
#include <string.h>
#include <math.h>
#include "nb.h"

void nb_hist_init(struct nb_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

unsigned int nb_hist_bucket(uint64_t v)
{
	unsigned int msb, shift;

	if (v < NB_HIST_SUB)
		return (unsigned int)v;
	msb = 63 - (unsigned int)__builtin_clzll(v);
	shift = msb - NB_HIST_SUB_BITS;
	/* v >> shift is in [SUB, 2 * SUB) */
	return (shift + 1) * NB_HIST_SUB + (unsigned int)((v >> shift) - NB_HIST_SUB);
}

uint64_t nb_hist_lower(unsigned int bucket)
{
	unsigned int shift;

	if (bucket < NB_HIST_SUB)
		return bucket;
	shift = bucket / NB_HIST_SUB - 1;
	return (uint64_t)(NB_HIST_SUB + bucket % NB_HIST_SUB) << shift;
}

uint64_t nb_hist_upper(unsigned int bucket)
{
	unsigned int shift;

	if (bucket < NB_HIST_SUB)
		return bucket;
	shift = bucket / NB_HIST_SUB - 1;
	return nb_hist_lower(bucket) + (((uint64_t)1 << shift) - 1);
}

void nb_hist_add(struct nb_hist *h, uint64_t v)
{
	h->b[nb_hist_bucket(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void nb_hist_merge(struct nb_hist *dst, const struct nb_hist *src)
{
	unsigned int i;

	if (!src->count)
		return;
	for (i = 0; i < NB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t nb_hist_percentile(const struct nb_hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	unsigned int i;

	if (!h->count)
		return 0;
	if (p >= 100.0)
		return h->max;
	rank = (uint64_t)ceil(p / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	for (i = 0; i < NB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			v = nb_hist_upper(i);
			if (v > h->max)
				v = h->max;
			if (v < h->min)
				v = h->min;
			return v;
		}
	}
	return h->max;
}

double nb_hist_mean(const struct nb_hist *h)
{
	return h->count ? h->sum / (double)h->count : 0.0;
}
