/*
 * Parsing of integers and sizes for the waltz command line (units.h).
 */
#include "units.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Reads the leading decimal digits of text; *end is set past them. */
static int parse_digits(const char *text, uint64_t *out, const char **end, char *err,
                        size_t err_size)
{
    const char *p = text;
    uint64_t value = 0;
    if (*p == '-') {
        snprintf(err, err_size, "must not be negative");
        return -1;
    }
    if (!is_digit(*p)) {
        snprintf(err, err_size, "is not a number");
        return -1;
    }
    for (; is_digit(*p); p++) {
        uint64_t digit = (uint64_t)(*p - '0');
        if (value > (UINT64_MAX - digit) / 10) {
            snprintf(err, err_size, "is too large");
            return -1;
        }
        value = value * 10 + digit;
    }
    *out = value;
    *end = p;
    return 0;
}

int units_parse_uint(const char *text, uint64_t *out, char *err, size_t err_size)
{
    const char *end;
    uint64_t value;
    if (parse_digits(text, &value, &end, err, err_size) != 0)
        return -1;
    if (*end != '\0') {
        snprintf(err, err_size, "is not a number");
        return -1;
    }
    *out = value;
    return 0;
}

int units_parse_size(const char *text, uint64_t *out, char *err, size_t err_size)
{
    const char *p;
    uint64_t value;
    if (parse_digits(text, &value, &p, err, err_size) != 0) {
        if (strcmp(err, "is not a number") == 0)
            snprintf(err, err_size, "is not a size (examples: 16M, 512K, 1GiB, 4096)");
        return -1;
    }
    unsigned shift = 0;
    switch (lower(*p)) {
    case 'k':
        shift = 10;
        p++;
        break;
    case 'm':
        shift = 20;
        p++;
        break;
    case 'g':
        shift = 30;
        p++;
        break;
    default:
        break;
    }
    if (shift && lower(p[0]) == 'i' && lower(p[1]) == 'b')
        p += 2;
    else if (lower(p[0]) == 'b')
        p++;
    if (*p != '\0') {
        snprintf(err, err_size, "is not a size (examples: 16M, 512K, 1GiB, 4096)");
        return -1;
    }
    if (value > (UINT64_MAX >> shift)) {
        snprintf(err, err_size, "is too large");
        return -1;
    }
    value <<= shift;
    if (value == 0) {
        snprintf(err, err_size, "must not be zero");
        return -1;
    }
    *out = value;
    return 0;
}

const char *units_format_size(uint64_t bytes, char *buf, size_t buf_size)
{
    static const char units[] = {'G', 'M', 'K'};
    static const unsigned shifts[] = {30, 20, 10};
    for (size_t i = 0; i < sizeof units; i++) {
        uint64_t unit = (uint64_t)1 << shifts[i];
        if (bytes >= unit && bytes % unit == 0) {
            snprintf(buf, buf_size, "%" PRIu64 "%c", bytes / unit, units[i]);
            return buf;
        }
    }
    snprintf(buf, buf_size, "%" PRIu64, bytes);
    return buf;
}
