/* Unit tests for src/lib: buf, strnum, base64, escape, secure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/escape.h"
#include "lib/secure.h"
#include "lib/strnum.h"

static void test_buf_max(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 8);
	assert_true(buf_append(&b, "12345678", 8));
	assert_false(buf_append(&b, "9", 1));
	assert_int_equal(b.len, 8);
	buf_consume(&b, 3);
	assert_memory_equal(b.data, "45678", 5);
	assert_string_equal(buf_cstr(&b), "45678");
	assert_true(buf_printf(&b, "%d", 123));
	assert_string_equal(buf_cstr(&b), "45678123");
	assert_false(buf_printf(&b, "x"));
	size_t len;
	uint8_t *p = buf_steal(&b, &len);
	assert_int_equal(len, 8);
	assert_null(b.data);
	free(p);
	buf_release(&b);
}

static void test_strnum(void **state)
{
	(void)state;
	uint64_t v;
	assert_true(strnum_u64_cstr("0", UINT32_MAX, &v));
	assert_int_equal(v, 0);
	assert_true(strnum_u64_cstr("4294967295", UINT32_MAX, &v));
	assert_int_equal(v, 4294967295u);
	assert_false(strnum_u64_cstr("4294967296", UINT32_MAX, &v));
	assert_false(strnum_u64_cstr("4294967297", UINT32_MAX, &v));
	assert_false(strnum_u64_cstr("18446744073709551616", UINT64_MAX, &v));
	assert_true(strnum_u64_cstr("18446744073709551615", UINT64_MAX, &v));
	assert_false(strnum_u64_cstr("", 10, &v));
	assert_false(strnum_u64_cstr("-1", 10, &v));
	assert_false(strnum_u64_cstr("+1", 10, &v));
	assert_false(strnum_u64_cstr(" 1", 10, &v));
	assert_false(strnum_u64_cstr("1 ", 10, &v));
	assert_false(strnum_u64_cstr("0x1", 10, &v));
	assert_false(strnum_u64_cstr("11", 10, &v));
	assert_false(strnum_u64_cstr("5", 3, &v));
	assert_true(strnum_u64_cstr("3", 3, &v));
	assert_false(strnum_u64_cstr("1", 0, &v));
}

static void test_base64(void **state)
{
	(void)state;
	uint8_t out[64];
	size_t n;
	assert_true(base64_decode("AGFsaWNlAHNlY3JldA==", 20, out, &n));
	assert_int_equal(n, 13);
	assert_memory_equal(out, "\0alice\0secret", 13);
	assert_true(base64_decode("", 0, out, &n));
	assert_int_equal(n, 0);
	assert_false(base64_decode("abc", 3, out, &n));
	assert_false(base64_decode("ab=c", 4, out, &n));
	assert_false(base64_decode("a b=", 4, out, &n));
	assert_false(base64_decode("====", 4, out, &n));
	char enc[32];
	assert_int_equal(base64_encode((const uint8_t *)"hi", 2, enc), 4);
	assert_string_equal(enc, "aGk=");
}

static void test_escape(void **state)
{
	(void)state;
	char out[32];
	escape_log(out, sizeof out, (const uint8_t *)"a\r\n%s\"\\", 7);
	assert_string_equal(out, "a\\x0d\\x0a%s\\x22\\x5c");
	char small[12];
	escape_log(small, sizeof small, (const uint8_t *)"0123456789abcdef", 16);
	assert_string_equal(small, "01234567...");
}

static void test_secure_equal(void **state)
{
	(void)state;
	assert_true(secure_equal("abc", 3, "abc", 3));
	assert_false(secure_equal("abc", 3, "abd", 3));
	assert_false(secure_equal("abc", 3, "abcd", 4));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_max),
		cmocka_unit_test(test_strnum),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_secure_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
