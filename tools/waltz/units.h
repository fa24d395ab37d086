/*
 * tools/waltz: the number and size syntax of the command line. Pure functions with no
 * dependency on the rest of waltz, so the unit tests link this file alone.
 *
 * Integers are plain decimal digits: no sign, no spaces, no base prefix. Sizes are an
 * integer followed by an optional binary unit K, M or G (any case) and an optional B or
 * iB after it ("16M", "512k", "1GiB", "4096", "4096B"). Zero is refused for sizes.
 */
#ifndef WALTZ_TOOLS_UNITS_H
#define WALTZ_TOOLS_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* Each returns 0 and sets *out, or -1 with a reason ("is not a number", ...) written to
 * err; the reason does not name the flag, the caller does. */
int units_parse_uint(const char *text, uint64_t *out, char *err, size_t err_size);
int units_parse_size(const char *text, uint64_t *out, char *err, size_t err_size);

/* Writes a size the way a user would type it: "16M", "1G", "768K", "1000" (bytes). */
const char *units_format_size(uint64_t bytes, char *buf, size_t buf_size);

#endif
