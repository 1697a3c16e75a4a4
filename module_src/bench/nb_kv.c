// SPDX-License-Identifier: GPL-2.0
/*
 * nckv - the pure parts of the key-value load generator: the seeded key
 * sequence, GET/SET commands in the Redis protocol (RESP arrays of bulk
 * strings) and an incremental parser of the replies.  No sockets, so the
 * unit tests link it under ASan/UBSan and feed it replies split anywhere.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nb.h"

uint64_t nb_rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

double nb_rng_unit(uint64_t *state)
{
	return (double)(nb_rng_next(state) >> 11) * 0x1.0p-53;
}

size_t nb_kv_key(char *buf, size_t len, uint64_t idx)
{
	int n = snprintf(buf, len, "key:%010" PRIu64, (uint64_t)(idx % NB_KV_KEYS_MAX));

	return n > 0 && (size_t)n < len ? (size_t)n : 0;
}

static size_t digits(uint64_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

size_t nb_kv_cmd_len(int set, size_t vlen)
{
	/* *N CRLF, $3 CRLF cmd CRLF, $14 CRLF key CRLF [, $V CRLF value CRLF] */
	size_t n = 4 + 4 + 5 + 5 + NB_KV_KEYLEN + 2;

	if (set)
		n += 1 + digits(vlen) + 2 + vlen + 2;
	return n;
}

size_t nb_kv_cmd(char *buf, size_t len, int set, uint64_t idx, const char *val, size_t vlen)
{
	char key[NB_KV_KEYLEN + 1];
	size_t need = nb_kv_cmd_len(set, vlen);
	int n;

	if (need > len || nb_kv_key(key, sizeof(key), idx) != NB_KV_KEYLEN)
		return 0;
	n = snprintf(buf, len, "*%d\r\n$3\r\n%s\r\n$%d\r\n%s\r\n", set ? 3 : 2,
		     set ? "SET" : "GET", NB_KV_KEYLEN, key);
	if (n < 0 || (size_t)n >= len)
		return 0;
	if (set) {
		int h = snprintf(buf + n, len - n, "$%zu\r\n", vlen);

		if (h < 0 || (size_t)h >= len - n)
			return 0;
		n += h;
		memcpy(buf + n, val, vlen);
		n += vlen;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	return (size_t)n == need ? (size_t)n : 0;
}

void nb_resp_init(struct nb_resp *p)
{
	memset(p, 0, sizeof(*p));
	p->state = NB_RESP_TYPE;
}

/* a whole reply line is in p->line (CRLF stripped): finish it or start a bulk */
static int resp_line(struct nb_resp *p, struct nb_resp_reply *r, int *done, char *err, size_t errlen)
{
	char *end;
	long long v;

	if (p->type == '+' || p->type == '-') {
		r->type = p->type;
		r->len = 0;
		memcpy(r->text, p->line, p->llen + 1);
		*done = 1;
		return 0;
	}
	if (!p->llen || p->line[0] == '+' || p->line[0] == ' ')
		return nb_errf(err, errlen, "reply '%c' with %s", p->type,
				 p->llen ? "a number that is not one" : "no number");
	v = strtoll(p->line, &end, 10);
	if (*end)
		return nb_errf(err, errlen, "reply '%c%.40s': not a number", p->type, p->line);
	if (p->type == ':') {
		r->type = ':';
		r->len = v;
		r->text[0] = '\0';
		*done = 1;
		return 0;
	}
	/* '$' */
	if (v == -1) {
		r->type = '$';
		r->len = -1;
		r->text[0] = '\0';
		*done = 1;
		return 0;
	}
	if (v < 0 || v > NB_RESP_BULK_MAX)
		return nb_errf(err, errlen, "bulk reply of %lld bytes (want -1 to %lld)", v,
				 (long long)NB_RESP_BULK_MAX);
	p->bulk = v;
	p->left = v + 2;
	p->state = NB_RESP_BULK_IN;
	return 0;
}

long nb_resp_feed(struct nb_resp *p, const char *buf, size_t n, struct nb_resp_reply *r,
		  int *done, char *err, size_t errlen)
{
	size_t i = 0;

	*done = 0;
	while (i < n && !*done) {
		unsigned char c = (unsigned char)buf[i];

		switch (p->state) {
		case NB_RESP_TYPE:
			if (c != '+' && c != '-' && c != ':' && c != '$')
				return nb_errf(err, errlen, "byte 0x%02x where a reply starts %s", c,
						 c == '*' ? "(an array: not a GET or SET reply)" :
						 "(not a RESP reply)");
			p->type = (char)c;
			p->llen = 0;
			p->state = NB_RESP_LINE_IN;
			i++;
			break;
		case NB_RESP_LINE_IN:
			i++;
			if (c == '\n') {
				if (!p->llen || p->line[p->llen - 1] != '\r')
					return nb_errf(err, errlen, "reply line ends in LF without CR");
				p->line[--p->llen] = '\0';
				p->state = NB_RESP_TYPE;
				if (resp_line(p, r, done, err, errlen))
					return -1;
				break;
			}
			if (p->llen >= NB_RESP_LINE - 1)
				return nb_errf(err, errlen, "reply line longer than %d bytes",
						 NB_RESP_LINE - 2);
			if (p->llen && p->line[p->llen - 1] == '\r')
				return nb_errf(err, errlen, "CR inside a reply line");
			p->line[p->llen++] = (char)c;
			break;
		case NB_RESP_BULK_IN:
			if (p->left > 2) {
				size_t take = n - i;

				if ((int64_t)take > p->left - 2)
					take = (size_t)(p->left - 2);
				p->left -= (int64_t)take;
				i += take;
				break;
			}
			if (c != (p->left == 2 ? '\r' : '\n'))
				return nb_errf(err, errlen, "bulk reply of %lld bytes not followed by CRLF",
						 (long long)p->bulk);
			i++;
			if (--p->left == 0) {
				r->type = '$';
				r->len = p->bulk;
				r->text[0] = '\0';
				p->state = NB_RESP_TYPE;
				*done = 1;
			}
			break;
		}
	}
	return (long)i;
}

void nb_kv_opts_default(struct nb_kv_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->port = 6379;
	o->conns = 8;
	o->threads = 1;
	o->depth = 1;
	o->get_ratio = 0.95;
	o->keys = 196608;
	o->value_size = 4096;
	o->duration = 10;
	o->warmup = 1;
	o->seed = 1;
	o->populate = 1;
	o->timeout = 10;
}

void nb_kv_usage(FILE *f)
{
	fputs("usage: nckv --host HOST [options]\n"
	      "A Redis-protocol load generator: CONNS connections keep DEPTH GET or SET\n"
	      "requests each in flight on uniformly random keys for a timed window.\n"
	      "  -H, --host HOST        the server (name or IPv4 address)\n"
	      "  -p, --port N           its port (6379)\n"
	      "  -c, --conns N          connections (8)\n"
	      "  -T, --threads N        threads, each with CONNS/THREADS connections (1)\n"
	      "  -D, --depth N          requests in flight per connection (1)\n"
	      "  -g, --get-ratio R      share of GET requests, 0..1 (0.95)\n"
	      "  -k, --keys N           key space key:0..key:N-1 (196608)\n"
	      "  -d, --value-size SIZE  bytes per value, K/M suffixes (4096)\n"
	      "  -l, --length SECONDS   measured window (10)\n"
	      "  -w, --warmup SECONDS   before the window, not measured (1)\n"
	      "      --seed N           key and request sequence (1)\n"
	      "      --no-populate      do not SET every key before the warm-up\n"
	      "      --timeout SECONDS  connect, and the longest wait for a reply (10)\n"
	      "Prints the options, then the results, as key=value lines.\n", f);
}

enum { O_SEED = 256, O_NOPOP, O_TIMEOUT };

static const struct option kv_longopts[] = {
	{ "host", required_argument, NULL, 'H' },
	{ "port", required_argument, NULL, 'p' },
	{ "conns", required_argument, NULL, 'c' },
	{ "threads", required_argument, NULL, 'T' },
	{ "depth", required_argument, NULL, 'D' },
	{ "get-ratio", required_argument, NULL, 'g' },
	{ "keys", required_argument, NULL, 'k' },
	{ "value-size", required_argument, NULL, 'd' },
	{ "length", required_argument, NULL, 'l' },
	{ "warmup", required_argument, NULL, 'w' },
	{ "seed", required_argument, NULL, O_SEED },
	{ "no-populate", no_argument, NULL, O_NOPOP },
	{ "timeout", required_argument, NULL, O_TIMEOUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int nb_kv_parse_args(int argc, char **argv, struct nb_kv_opts *o, char *err, size_t len)
{
	int c;
	long v;

	nb_kv_opts_default(o);
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":H:p:c:T:D:g:k:d:l:w:hV", kv_longopts, NULL)) != -1) {
		const char *arg = optarg;

		switch (c) {
		case 'H':
			if (!*arg || strlen(arg) >= sizeof(o->host))
				return nb_errf(err, len, "--host '%s': want a host name or address", arg);
			strcpy(o->host, arg);
			break;
		case 'p':
			if (nb_parse_int(arg, 1, 65535, &v))
				return nb_errf(err, len, "--port '%s': want a port 1..65535", arg);
			o->port = (int)v;
			break;
		case 'c':
			if (nb_parse_int(arg, 1, NB_MAX_FLOWS, &v))
				return nb_errf(err, len, "--conns '%s': want 1..%d", arg, NB_MAX_FLOWS);
			o->conns = (int)v;
			break;
		case 'T':
			if (nb_parse_int(arg, 1, NB_MAX_THREADS, &v))
				return nb_errf(err, len, "--threads '%s': want 1..%d", arg, NB_MAX_THREADS);
			o->threads = (int)v;
			break;
		case 'D':
			if (nb_parse_int(arg, 1, 1024, &v))
				return nb_errf(err, len, "--depth '%s': want 1..1024", arg);
			o->depth = (int)v;
			break;
		case 'g':
			if (nb_parse_seconds(arg, 0, 1, &o->get_ratio))
				return nb_errf(err, len, "--get-ratio '%s': want a number from 0 to 1", arg);
			break;
		case 'k':
			if (nb_parse_size(arg, 1, NB_KV_KEYS_MAX, &o->keys))
				return nb_errf(err, len, "--keys '%s': want 1..%llu", arg,
						 (unsigned long long)NB_KV_KEYS_MAX);
			break;
		case 'd':
			if (nb_parse_size(arg, 1, NB_KV_VALUE_MAX, &o->value_size))
				return nb_errf(err, len, "--value-size '%s': want 1..%u bytes (K, M)", arg,
						 NB_KV_VALUE_MAX);
			break;
		case 'l':
			if (nb_parse_seconds(arg, 0.1, 86400, &o->duration))
				return nb_errf(err, len, "--length '%s': want 0.1..86400 seconds", arg);
			break;
		case 'w':
			if (nb_parse_seconds(arg, 0, 3600, &o->warmup))
				return nb_errf(err, len, "--warmup '%s': want 0..3600 seconds", arg);
			break;
		case O_SEED:
			if (nb_parse_size(arg, 0, UINT64_MAX, &o->seed) || strpbrk(arg, "kKmMgG"))
				return nb_errf(err, len, "--seed '%s': want a whole number", arg);
			break;
		case O_NOPOP:
			o->populate = 0;
			break;
		case O_TIMEOUT:
			if (nb_parse_seconds(arg, 0.1, 3600, &o->timeout))
				return nb_errf(err, len, "--timeout '%s': want 0.1..3600 seconds", arg);
			break;
		case 'h':
			snprintf(err, len, "see nckv --help");
			return 1;
		case 'V':
			snprintf(err, len, "nckv %s", NB_VERSION);
			return 1;
		case ':':
			return nb_errf(err, len, "%s needs a value", argv[optind - 1]);
		default:
			return nb_errf(err, len, "unknown option '%s' (--help lists them)",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return nb_errf(err, len, "unexpected argument '%s'", argv[optind]);
	if (!o->host[0])
		return nb_errf(err, len, "--host is required (the server to load)");
	if (o->threads > o->conns)
		return nb_errf(err, len, "--threads %d > --conns %d: each thread needs a connection",
				 o->threads, o->conns);
	if (o->populate && o->get_ratio > 0 && o->keys > 100000000)
		return nb_errf(err, len, "--keys %llu: populating more than 100000000 keys "
				 "(use --no-populate)", (unsigned long long)o->keys);
	return 0;
}
