/*
 * Tests of the number and size syntax of the waltz command line (tools/waltz/units.c):
 * what is accepted, what it means, and that garbage, signs, overflow and zero sizes are
 * refused with a reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "units.h"

static uint64_t size_ok(const char *text)
{
    char err[128] = "";
    uint64_t value = 0;
    int rc = units_parse_size(text, &value, err, sizeof err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", text, err);
    return value;
}

static void size_refused(const char *text, const char *reason)
{
    char err[128] = "";
    uint64_t value = 12345;
    if (units_parse_size(text, &value, err, sizeof err) == 0)
        fail_msg("'%s' accepted as %llu", text, (unsigned long long)value);
    assert_int_equal(value, 12345);
    assert_non_null(strstr(err, reason));
}

static uint64_t uint_ok(const char *text)
{
    char err[128] = "";
    uint64_t value = 0;
    int rc = units_parse_uint(text, &value, err, sizeof err);
    if (rc != 0)
        fail_msg("'%s' refused: %s", text, err);
    return value;
}

static void uint_refused(const char *text, const char *reason)
{
    char err[128] = "";
    uint64_t value = 12345;
    if (units_parse_uint(text, &value, err, sizeof err) == 0)
        fail_msg("'%s' accepted as %llu", text, (unsigned long long)value);
    assert_int_equal(value, 12345);
    assert_non_null(strstr(err, reason));
}

static void test_sizes_plain_bytes(void **state)
{
    (void)state;
    assert_int_equal(size_ok("1"), 1);
    assert_int_equal(size_ok("4096"), 4096);
    assert_int_equal(size_ok("4096B"), 4096);
    assert_int_equal(size_ok("4096b"), 4096);
    assert_int_equal(size_ok("007"), 7);
}

static void test_sizes_units(void **state)
{
    (void)state;
    assert_int_equal(size_ok("512K"), 512 * 1024);
    assert_int_equal(size_ok("512k"), 512 * 1024);
    assert_int_equal(size_ok("16M"), 16ull << 20);
    assert_int_equal(size_ok("16m"), 16ull << 20);
    assert_int_equal(size_ok("16MB"), 16ull << 20);
    assert_int_equal(size_ok("16mb"), 16ull << 20);
    assert_int_equal(size_ok("16MiB"), 16ull << 20);
    assert_int_equal(size_ok("16mib"), 16ull << 20);
    assert_int_equal(size_ok("1G"), 1ull << 30);
    assert_int_equal(size_ok("1GiB"), 1ull << 30);
    assert_int_equal(size_ok("1gb"), 1ull << 30);
    assert_int_equal(size_ok("3K"), 3072);
}

static void test_sizes_limits(void **state)
{
    (void)state;
    assert_int_equal(size_ok("18446744073709551615"), UINT64_MAX);
    assert_int_equal(size_ok("17179869183G"), 17179869183ull << 30);
    size_refused("18446744073709551616", "too large");
    size_refused("99999999999999999999", "too large");
    size_refused("17179869184G", "too large");
    size_refused("18014398509481984K", "too large");
    size_refused("99999999999999M", "too large");
}

static void test_sizes_refused(void **state)
{
    (void)state;
    size_refused("0", "zero");
    size_refused("0K", "zero");
    size_refused("0GiB", "zero");
    size_refused("", "not a size");
    size_refused("M", "not a size");
    size_refused("12Q", "not a size");
    size_refused("1.5M", "not a size");
    size_refused("16 M", "not a size");
    size_refused(" 16M", "not a size");
    size_refused("16M ", "not a size");
    size_refused("16MM", "not a size");
    size_refused("16iB", "not a size");
    size_refused("16Mi", "not a size");
    size_refused("16MBB", "not a size");
    size_refused("16T", "not a size");
    size_refused("0x10", "not a size");
    size_refused("+16M", "not a size");
    size_refused("-16M", "negative");
    size_refused("abc", "not a size");
}

static void test_integers(void **state)
{
    (void)state;
    assert_int_equal(uint_ok("0"), 0);
    assert_int_equal(uint_ok("1"), 1);
    assert_int_equal(uint_ok("42"), 42);
    assert_int_equal(uint_ok("256"), 256);
    assert_int_equal(uint_ok("18446744073709551615"), UINT64_MAX);
    uint_refused("18446744073709551616", "too large");
    uint_refused("184467440737095516150", "too large");
    uint_refused("-1", "negative");
    uint_refused("-0", "negative");
    uint_refused("+1", "not a number");
    uint_refused("", "not a number");
    uint_refused("abc", "not a number");
    uint_refused("12abc", "not a number");
    uint_refused("1K", "not a number");
    uint_refused("1.0", "not a number");
    uint_refused(" 1", "not a number");
    uint_refused("1 ", "not a number");
    uint_refused("0x1", "not a number");
}

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    assert_string_equal(units_format_size(16ull << 20, buf, sizeof buf), "16M");
    assert_string_equal(units_format_size(1ull << 30, buf, sizeof buf), "1G");
    assert_string_equal(units_format_size(768ull << 10, buf, sizeof buf), "768K");
    assert_string_equal(units_format_size(1536ull << 20, buf, sizeof buf), "1536M");
    assert_string_equal(units_format_size(1000, buf, sizeof buf), "1000");
    assert_string_equal(units_format_size(0, buf, sizeof buf), "0");
    /* What is formatted parses back to the same number. */
    const uint64_t sizes[] = {1, 1000, 1024, 3 << 20, 5ull << 30, 123456789};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        assert_int_equal(size_ok(units_format_size(sizes[i], buf, sizeof buf)), sizes[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes_plain_bytes), cmocka_unit_test(test_sizes_units),
        cmocka_unit_test(test_sizes_limits),      cmocka_unit_test(test_sizes_refused),
        cmocka_unit_test(test_integers),          cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
