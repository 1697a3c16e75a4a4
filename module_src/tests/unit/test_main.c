// SPDX-License-Identifier: GPL-2.0
/* Test runner: runs every suite, prints "N passed, N failed". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nc_test.h"

int nc_test_failed_checks;
static int passed, failed;
static const char *filter;

void nc_run_suite(const char *suite, const struct nc_test_case *cases, int n)
{
	int i, before;

	for (i = 0; i < n; i++) {
		if (filter && !strstr(cases[i].name, filter))
			continue;
		before = nc_test_failed_checks;
		cases[i].fn();
		if (nc_test_failed_checks == before) {
			passed++;
			if (getenv("NC_TEST_VERBOSE"))
				printf("ok   %s.%s\n", suite, cases[i].name);
		} else {
			failed++;
			printf("FAIL %s.%s\n", suite, cases[i].name);
		}
	}
}

void suite_wire(void);
void suite_wire2(void);
void suite_reorder(void);
void suite_stripe(void);
void suite_drr(void);
void suite_credit(void);
void suite_hostcfg(void);
void suite_demux(void);

int main(int argc, char **argv)
{
	if (argc > 1)
		filter = argv[1];
	suite_wire();
	suite_wire2();
	suite_reorder();
	suite_stripe();
	suite_drr();
	suite_credit();
	suite_hostcfg();
	suite_demux();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
