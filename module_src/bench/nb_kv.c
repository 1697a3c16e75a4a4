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
	char key[NB_KV_KEYLEN + 1], hdr[96];
	size_t need = nb_kv_cmd_len(set, vlen), n;
	int h;

	if (need > len || nb_kv_key(key, sizeof(key), idx) != NB_KV_KEYLEN)
		return 0;
	/* the header in a buffer of its own: an exact fit in buf has no room for a NUL */
	if (set)
		h = snprintf(hdr, sizeof(hdr), "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n",
			     NB_KV_KEYLEN, key, vlen);
	else
		h = snprintf(hdr, sizeof(hdr), "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", NB_KV_KEYLEN, key);
	if (h < 0 || (size_t)h >= sizeof(hdr) || (size_t)h + (set ? vlen + 2 : 0) != need)
		return 0;
	n = (size_t)h;
	memcpy(buf, hdr, n);
	if (set) {
		memcpy(buf + n, val, vlen);
		memcpy(buf + n + vlen, "\r\n", 2);
	}
	return need;
}

void nb_resp_init(struct nb_resp *p)
{
	memset(p, 0, sizeof(*p));
	p->state = NB_RESP_TYPE;
}

/*
 * The integer of a ':' or '$' line, as Redis writes it: an optional '-',
 * then digits without a leading zero ("0" itself aside), no sign on zero,
 * within int64.  0 on success.
 */
static int resp_int(const char *s, int64_t *out)
{
	int neg = *s == '-';
	uint64_t v = 0, lim;

	s += neg;
	if (*s < '0' || *s > '9' || (*s == '0' && (s[1] || neg)))
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (lim - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* a whole reply line is in p->line (CRLF stripped): finish it or start a bulk */
static int resp_line(struct nb_resp *p, struct nb_resp_reply *r, int *done, char *err, size_t errlen)
{
	int64_t v;

	r->type = p->type;
	r->len = 0;
	r->text[0] = '\0';
	if (p->type == '+' || p->type == '-') {
		memcpy(r->text, p->line, p->llen + 1);
		if (p->trunc)	/* an error line cut to what fits: mark it */
			memcpy(r->text + p->llen - 3, "...", 4);
		*done = 1;
		return 0;
	}
	if (!p->llen)
		return nb_errf(err, errlen, "reply '%c' with no number", p->type);
	if (resp_int(p->line, &v))
		return nb_errf(err, errlen, "reply '%c%.40s': not a number", p->type, p->line);
	if (p->type == ':' || v == -1) {
		r->len = v;
		*done = 1;
		return 0;
	}
	/* '$' */
	if (v < 0 || v > NB_RESP_BULK_MAX)
		return nb_errf(err, errlen, "bulk reply of %lld bytes (want -1 to %lld)", (long long)v,
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
			p->cr = 0;
			p->trunc = 0;
			p->state = NB_RESP_LINE_IN;
			i++;
			break;
		case NB_RESP_LINE_IN:
			i++;
			if (c == '\n') {
				if (!p->cr)
					return nb_errf(err, errlen, "reply line ends in LF without CR");
				p->line[p->llen] = '\0';
				p->state = NB_RESP_TYPE;
				if (resp_line(p, r, done, err, errlen))
					return -1;
				break;
			}
			if (p->cr)
				return nb_errf(err, errlen, "CR inside a reply line");
			if (c == '\r') {
				p->cr = 1;
				break;
			}
			if (!c)
				return nb_errf(err, errlen, "NUL inside a reply line");
			if (p->llen >= NB_RESP_LINE - 2) {
				/* an error's words are kept as far as they fit */
				if (p->type != '-')
					return nb_errf(err, errlen, "reply line longer than %d bytes",
						       NB_RESP_LINE - 2);
				p->trunc = 1;
				break;
			}
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
	if (o->get_ratio == 0)	/* SETs only: nothing is read back, nothing to fill */
		o->populate = 0;
	if (o->populate && o->keys > 100000000)
		return nb_errf(err, len, "--keys %llu: populating more than 100000000 keys "
				 "(use --no-populate)", (unsigned long long)o->keys);
	return 0;
}
