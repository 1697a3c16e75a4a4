/* SPDX-License-Identifier: GPL-2.0 */
/* Minimal test harness for the NetChannel pure-logic unit tests. */
#ifndef _NC_TEST_H
#define _NC_TEST_H

#include <stdint.h>
#include <stdio.h>

extern int nc_test_failed_checks;

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, "  FAIL %s:%d: %s\n",		\
				__FILE__, __LINE__, #cond);		\
			nc_test_failed_checks++;			\
		}							\
	} while (0)

#define CHECK_EQ(a, b)							\
	do {								\
		long long _a = (long long)(a), _b = (long long)(b);	\
		if (_a != _b) {						\
			fprintf(stderr, "  FAIL %s:%d: %s == %s "	\
				"(%lld != %lld)\n", __FILE__, __LINE__,	\
				#a, #b, _a, _b);			\
			nc_test_failed_checks++;			\
		}							\
	} while (0)

struct nc_test_case {
	const char *name;
	void (*fn)(void);
};

#define NC_TEST(name) static void name(void)
#define NC_CASE(name) { #name, name }

/* xorshift32: the tests' and the fuzzer's reproducible pseudo-random numbers */
static inline uint32_t nc_test_xorshift32(uint32_t *state)
{
	uint32_t x = *state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

void nc_run_suite(const char *suite, const struct nc_test_case *cases,
		  int n);

#endif
