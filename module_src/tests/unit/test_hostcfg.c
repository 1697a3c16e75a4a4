// SPDX-License-Identifier: GPL-2.0
/* Unit tests for nc_hostcfg.c: host-table string parsing. */
#include "nc_test.h"
#include "../../netchannel/nc_hostcfg.h"
#include "../../netchannel/nc_hosts_default.h"

#define IP(a, b, c, d) ((u32)(a) << 24 | (u32)(b) << 16 | (u32)(c) << 8 | (d))

NC_TEST(ipv4_good)
{
	u32 ip;

	CHECK_EQ(nc_parse_ipv4("198.18.0.1", 10, &ip), 0);
	CHECK_EQ(ip, IP(198, 18, 0, 1));
	CHECK_EQ(nc_parse_ipv4("0.0.0.0", 7, &ip), 0);
	CHECK_EQ(ip, 0);
	CHECK_EQ(nc_parse_ipv4("255.255.255.255", 15, &ip), 0);
	CHECK_EQ(ip, 0xffffffffu);
	/* only the given length is parsed */
	CHECK_EQ(nc_parse_ipv4("10.1.2.3,junk", 8, &ip), 0);
	CHECK_EQ(ip, IP(10, 1, 2, 3));
}

NC_TEST(ipv4_bad)
{
	static const char *const bad[] = {
		"", "1", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.", ".1.2.3",
		"1..2.3", "01.2.3.4", "1.2.3.-4", "a.b.c.d", "1.2.3.4 ",
		"99999999999.1.1.1", "1.2.3.4/24",
	};
	unsigned int i;
	u32 ip;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (nc_parse_ipv4(bad[i], strlen(bad[i]), &ip) == 0) {
			fprintf(stderr, "  accepted bad ip '%s'\n", bad[i]);
			CHECK(0);
		}
}

NC_TEST(full_example)
{
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	CHECK_EQ(nc_hostcfg_parse("local=198.18.0.1;peers=198.18.0.2,198.18.0.3;bulk=4;lat=2;port=9000;cpus=0-1",
				  &c, &e), 0);
	CHECK_EQ(c.local_ip, IP(198, 18, 0, 1));
	CHECK_EQ(c.npeers, 2);
	CHECK_EQ(c.peers[0], IP(198, 18, 0, 2));
	CHECK_EQ(c.peers[1], IP(198, 18, 0, 3));
	CHECK_EQ(c.bulk, 4);
	CHECK_EQ(c.lat, 2);
	CHECK_EQ(c.port, 9000);
	CHECK_EQ(c.ncpus, 2);
	CHECK(nc_hostcfg_cpu_isset(&c, 0));
	CHECK(nc_hostcfg_cpu_isset(&c, 1));
	CHECK(!nc_hostcfg_cpu_isset(&c, 2));
	CHECK(!nc_hostcfg_cpu_isset(&c, 100000));
	CHECK_EQ(nc_hostcfg_peer_index(&c, IP(198, 18, 0, 1)), 0);
	CHECK_EQ(nc_hostcfg_peer_index(&c, IP(198, 18, 0, 3)), 2);
	CHECK_EQ(nc_hostcfg_peer_index(&c, IP(198, 18, 0, 9)), -1);
}

NC_TEST(defaults_and_order)
{
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	CHECK_EQ(nc_hostcfg_parse("local=127.0.0.1", &c, &e), 0);
	CHECK_EQ(c.npeers, 0);
	CHECK_EQ(c.bulk, 2);
	CHECK_EQ(c.lat, 1);
	CHECK_EQ(c.port, 9000);
	CHECK_EQ(c.ncpus, 0);
	CHECK_EQ(nc_hostcfg_parse("port=1;cpus=3,1-2,2;lat=0;bulk=16;local=10.0.0.1;peers=;",
				  &c, &e), 0);
	CHECK_EQ(c.port, 1);
	CHECK_EQ(c.ncpus, 3);
	CHECK_EQ(c.lat, 0);
	CHECK_EQ(c.bulk, 16);
	CHECK_EQ(c.npeers, 0);
	CHECK_EQ(nc_hostcfg_parse("local=198.18.0.1;port=65535;cpus=255", &c, &e), 0);
	CHECK_EQ(c.port, 65535);
	CHECK(nc_hostcfg_cpu_isset(&c, 255));
}

NC_TEST(local_listed_as_peer_is_folded)
{
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	CHECK_EQ(nc_hostcfg_parse("local=198.18.0.2;peers=198.18.0.1,198.18.0.2,198.18.0.3",
				  &c, &e), 0);
	CHECK_EQ(c.npeers, 2);
	CHECK_EQ(c.peers[0], IP(198, 18, 0, 1));
	CHECK_EQ(c.peers[1], IP(198, 18, 0, 3));
}

NC_TEST(default_header_parses)
{
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	CHECK_EQ(nc_hostcfg_parse(NC_HOSTS_CONFIG, &c, &e), 0);
	CHECK_EQ(c.local_ip, IP(127, 0, 0, 1));
	CHECK_EQ(c.npeers, 0);
	CHECK_EQ(c.bulk, NC_HOSTS_BULK);
	CHECK_EQ(c.lat, NC_HOSTS_LAT);
	CHECK_EQ(c.port, NC_HOSTS_PORT);
}

struct bad_case {
	const char *in;
	int pos;
	const char *token;
	const char *msg;
};

NC_TEST(bad_inputs_report_token_and_reason)
{
	static const struct bad_case bad[] = {
		{ "", 0, "", "empty item" },
		{ ";", 0, "", "empty item" },
		{ "local=1.2.3.4;;port=1", 14, "", "empty item" },
		{ "peers=1.2.3.4", 0, "", "missing required key local" },
		{ "local=1.2.3.4;foo=1", 14, "foo=1", "unknown key" },
		{ "local=1.2.3.4;local=1.2.3.5", 14, "local=1.2.3.5", "duplicate key" },
		{ "local=1.2.3", 0, "local=1.2.3", "local is not a dotted-quad IPv4 address" },
		{ "local=0.0.0.0", 0, "local=0.0.0.0", "unspecified address 0.0.0.0" },
		{ "local=224.0.0.1", 0, "local=224.0.0.1", "multicast address" },
		{ "local=255.255.255.255", 0, "local=255.255.255.255",
		  "reserved or broadcast address" },
		{ "local=1.2.3.4;peers=1.2.3.5,,1.2.3.6", 28, "", "empty entry in peers list" },
		{ "local=1.2.3.4;peers=1.2.3.5,1.2.3.5", 28, "1.2.3.5", "duplicate peer" },
		{ "local=1.2.3.4;peers=1.2.3.x", 20, "1.2.3.x",
		  "peer is not a dotted-quad IPv4 address" },
		{ "local=1.2.3.4;peers=0.1.2.3", 20, "0.1.2.3", "address in 0.0.0.0/8" },
		{ "local=1.2.3.4;bulk=0", 14, "bulk=0", "bulk must be 1..16" },
		{ "local=1.2.3.4;bulk=17", 14, "bulk=17", "bulk must be 1..16" },
		{ "local=1.2.3.4;bulk=-1", 14, "bulk=-1", "bulk must be 1..16" },
		{ "local=1.2.3.4;lat=17", 14, "lat=17", "lat must be 0..16" },
		{ "local=1.2.3.4;lat=", 14, "lat=", "lat must be 0..16" },
		{ "local=1.2.3.4;port=0", 14, "port=0", "port must be 1..65535" },
		{ "local=1.2.3.4;port=65536", 14, "port=65536", "port must be 1..65535" },
		{ "local=1.2.3.4;port=09000", 14, "port=09000", "port must be 1..65535" },
		{ "local=1.2.3.4;port=4294967297", 14, "port=4294967297",
		  "port must be 1..65535" },
		{ "local=1.2.3.4;cpus=", 19, "", "empty cpu list" },
		{ "local=1.2.3.4;cpus=2-1", 19, "2-1", "cpu range end before start" },
		{ "local=1.2.3.4;cpus=256", 19, "256", "cpu is not a number below 256" },
		{ "local=1.2.3.4;cpus=0-256", 19, "0-256",
		  "cpu range end is not a number below 256" },
		{ "local=1.2.3.4;cpus=0-", 19, "0-", "cpu range end is not a number below 256" },
		{ "local=1.2.3.4;cpus=1,", 21, "", "empty entry in cpu list" },
		{ "local=1.2.3.4;port", 14, "port", "expected key=value" },
		{ " local=1.2.3.4", 0, " local=1.2.3.4", "unknown key" },
		{ "local=1.2.3.4 ", 0, "local=1.2.3.4 ", "local is not a dotted-quad IPv4 address" },
	};
	struct nc_hostcfg c;
	struct nc_cfg_error e;
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int ret = nc_hostcfg_parse(bad[i].in, &c, &e);

		if (ret != -EINVAL || e.pos != bad[i].pos ||
		    strcmp(e.token, bad[i].token) || strcmp(e.msg, bad[i].msg)) {
			fprintf(stderr, "  input '%s': ret %d pos %d token '%s' msg '%s'\n",
				bad[i].in, ret, e.pos, e.token, e.msg);
			CHECK(0);
		}
	}
}

NC_TEST(too_many_peers_and_too_long)
{
	char buf[2048];
	struct nc_hostcfg c;
	struct nc_cfg_error e;
	int i, off;

	off = sprintf(buf, "local=10.0.0.1;peers=");
	for (i = 0; i < 32; i++)
		off += sprintf(buf + off, "%s10.0.1.%d", i ? "," : "", i + 1);
	CHECK_EQ(nc_hostcfg_parse(buf, &c, &e), 0);
	CHECK_EQ(c.npeers, 32);
	sprintf(buf + off, ",10.0.2.1");
	CHECK_EQ(nc_hostcfg_parse(buf, &c, &e), -EINVAL);
	CHECK(strcmp(e.msg, "too many peers (max 32)") == 0);
	CHECK(strcmp(e.token, "10.0.2.1") == 0);
	memset(buf, 'a', sizeof(buf));
	buf[sizeof(buf) - 1] = 0;
	CHECK_EQ(nc_hostcfg_parse(buf, &c, &e), -EINVAL);
	CHECK(strcmp(e.msg, "configuration string too long") == 0);
	CHECK_EQ(nc_hostcfg_parse(NULL, &c, &e), -EINVAL);
	/* NULL error pointer is allowed */
	CHECK_EQ(nc_hostcfg_parse("bogus", &c, NULL), -EINVAL);
}

NC_TEST(long_token_truncated_safely)
{
	char buf[600];
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	memset(buf, 'k', sizeof(buf));
	memcpy(buf + 500, "=1", 3);
	CHECK_EQ(nc_hostcfg_parse(buf, &c, &e), -EINVAL);
	CHECK_EQ(strlen(e.token), sizeof(e.token) - 1);
	CHECK(strcmp(e.msg, "unknown key") == 0);
}

extern const char *nc_rendered_loopback_config;
extern const char *nc_rendered_example_config;
extern const int nc_rendered_example_bulk;

/* The hand-rendered default must equal what the template produces. */
NC_TEST(template_matches_default_header)
{
	CHECK(strcmp(nc_rendered_loopback_config, NC_HOSTS_CONFIG) == 0);
}

NC_TEST(template_example_parses)
{
	struct nc_hostcfg c;
	struct nc_cfg_error e;

	CHECK(strcmp(nc_rendered_example_config,
		     "local=198.18.0.1;peers=198.18.0.1,198.18.0.2,198.18.0.3;bulk=4;lat=2;port=9000;cpus=0-1") == 0);
	CHECK_EQ(nc_hostcfg_parse(nc_rendered_example_config, &c, &e), 0);
	CHECK_EQ(c.npeers, 2);
	CHECK_EQ(c.bulk, nc_rendered_example_bulk);
	CHECK_EQ(c.lat, 2);
	CHECK_EQ(c.ncpus, 2);
}

static const struct nc_test_case cases[] = {
	NC_CASE(template_matches_default_header),
	NC_CASE(template_example_parses),
	NC_CASE(ipv4_good),
	NC_CASE(ipv4_bad),
	NC_CASE(full_example),
	NC_CASE(defaults_and_order),
	NC_CASE(local_listed_as_peer_is_folded),
	NC_CASE(default_header_parses),
	NC_CASE(bad_inputs_report_token_and_reason),
	NC_CASE(too_many_peers_and_too_long),
	NC_CASE(long_token_truncated_safely),
};

void suite_hostcfg(void)
{
	nc_run_suite("hostcfg", cases, sizeof(cases) / sizeof(cases[0]));
}
