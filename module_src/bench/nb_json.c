// SPDX-License-Identifier: GPL-2.0
/*
 * ncbench - a small streaming JSON writer (one record per file).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include "nb.h"

void nb_json_init(struct nb_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->depth = -1;
}

static void put_string(struct nb_json *j, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', j->f);
	for (; *p; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", j->f);
			break;
		case '\\':
			fputs("\\\\", j->f);
			break;
		case '\n':
			fputs("\\n", j->f);
			break;
		case '\r':
			fputs("\\r", j->f);
			break;
		case '\t':
			fputs("\\t", j->f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(j->f, "\\u%04x", *p);
			else
				fputc(*p, j->f);
		}
	}
	fputc('"', j->f);
}

/* comma, indentation and "key": before a value */
static void member(struct nb_json *j, const char *key)
{
	if (j->depth >= 0) {
		if (j->count[j->depth]++)
			fputc(',', j->f);
		fputc('\n', j->f);
		fprintf(j->f, "%*s", 2 * (j->depth + 1), "");
	} else if (key) {
		j->err = 1;	/* a key outside any object */
	}
	if (key) {
		put_string(j, key);
		fputs(": ", j->f);
	}
}

static void open_(struct nb_json *j, const char *key, char c)
{
	member(j, key);
	fputc(c, j->f);
	if (j->depth + 1 >= NB_JSON_DEPTH) {
		j->err = 1;
		return;
	}
	j->depth++;
	j->count[j->depth] = 0;
}

static void close_(struct nb_json *j, char c)
{
	if (j->depth < 0) {
		j->err = 1;
		return;
	}
	if (j->count[j->depth])
		fprintf(j->f, "\n%*s", 2 * j->depth, "");
	fputc(c, j->f);
	j->depth--;
}

void nb_json_obj_begin(struct nb_json *j, const char *key)
{
	open_(j, key, '{');
}

void nb_json_obj_end(struct nb_json *j)
{
	close_(j, '}');
}

void nb_json_arr_begin(struct nb_json *j, const char *key)
{
	open_(j, key, '[');
}

void nb_json_arr_end(struct nb_json *j)
{
	close_(j, ']');
}

void nb_json_str(struct nb_json *j, const char *key, const char *val)
{
	member(j, key);
	if (val)
		put_string(j, val);
	else
		fputs("null", j->f);
}

void nb_json_int(struct nb_json *j, const char *key, int64_t val)
{
	member(j, key);
	fprintf(j->f, "%" PRId64, val);
}

void nb_json_uint(struct nb_json *j, const char *key, uint64_t val)
{
	member(j, key);
	fprintf(j->f, "%" PRIu64, val);
}

void nb_json_num(struct nb_json *j, const char *key, double val)
{
	char buf[32];

	member(j, key);
	if (!isfinite(val)) {
		fputs("null", j->f);	/* JSON has no NaN or infinity */
		return;
	}
	/* the shortest of 15 or 17 digits that reads back as the same value */
	snprintf(buf, sizeof(buf), "%.15g", val);
	if (strtod(buf, NULL) != val)
		snprintf(buf, sizeof(buf), "%.17g", val);
	fputs(buf, j->f);
}

/* s is a number as JSON writes it: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
int nb_json_is_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return 0;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

void nb_json_bool(struct nb_json *j, const char *key, int val)
{
	member(j, key);
	fputs(val ? "true" : "false", j->f);
}

void nb_json_auto(struct nb_json *j, const char *key, const char *val)
{
	if (!nb_json_is_number(val)) {
		nb_json_str(j, key, val);
		return;
	}
	member(j, key);
	fputs(val, j->f);	/* as printed in the key=value output */
}

int nb_json_finish(struct nb_json *j)
{
	fputc('\n', j->f);
	if (fflush(j->f) || ferror(j->f))
		j->err = 1;
	return (j->err || j->depth != -1) ? -1 : 0;
}
