/* test_msg.c - secrets never reach stderr or the stream: msg_redact and msg_vformat. */
#include <stdarg.h>
#include <string.h>

#include "check.h"
#include "msg.h"

static char *fmt(char *dst, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static char *fmt(char *dst, size_t n, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	msg_vformat(dst, n, f, ap);
	va_end(ap);
	return dst;
}

static void test_no_secrets(void)
{
	char out[64];
	msg_forget_secrets();
	CHECK_STR(msg_redact(out, sizeof(out), "nothing to hide: ghp_abc"), "nothing to hide: ghp_abc");
	CHECK_STR(msg_redact(out, sizeof(out), ""), "");
	/* Empty and NULL secrets are ignored: they would match everywhere. */
	msg_add_secret("");
	msg_add_secret(NULL);
	CHECK_STR(msg_redact(out, sizeof(out), "still plain"), "still plain");
	/* Cut to fit, NUL-terminated. */
	CHECK_STR(msg_redact(out, 6, "abcdefghij"), "abcde");
	out[0] = 'x';
	msg_redact(out, 0, "abc"); /* no room at all: untouched */
	CHECK(out[0] == 'x');
}

static void test_every_occurrence(void)
{
	char out[128];
	msg_forget_secrets();
	msg_add_secret("ghp_SECRET");
	msg_add_secret("ghp_SECRET"); /* twice is once */
	CHECK_STR(msg_redact(out, sizeof(out), "ghp_SECRET"), "***");
	CHECK_STR(msg_redact(out, sizeof(out), "a ghp_SECRET b ghp_SECRETghp_SECRET c"),
		  "a *** b ****** c");
	CHECK_STR(msg_redact(out, sizeof(out), "Authorization: Bearer ghp_SECRET\r\n"),
		  "Authorization: Bearer ***\r\n");
	/* Almost the secret is not the secret. */
	CHECK_STR(msg_redact(out, sizeof(out), "ghp_SECRE ghp_SECRET"), "ghp_SECRE ***");
	msg_forget_secrets();
	CHECK_STR(msg_redact(out, sizeof(out), "ghp_SECRET"), "ghp_SECRET");
}

/* A value too short to be a token is not masked: it would mangle every message. */
static void test_too_short(void)
{
	char out[128];
	msg_forget_secrets();
	msg_add_secret("t");
	msg_add_secret("abcdefg");
	CHECK_STR(msg_redact(out, sizeof(out), "the repository abcdefg"), "the repository abcdefg");
	msg_forget_secrets();
}

static void test_overlapping(void)
{
	char out[128];
	msg_forget_secrets();
	/* One token inside another: the longer one goes whole, whichever came first. */
	msg_add_secret("ghp_abcd");
	msg_add_secret("ghp_abcdef");
	CHECK_STR(msg_redact(out, sizeof(out), "[ghp_abcdef]"), "[***]");
	CHECK_STR(msg_redact(out, sizeof(out), "[ghp_abcd]"), "[***]");
	msg_forget_secrets();
	msg_add_secret("ghp_abcdef");
	msg_add_secret("ghp_abcd");
	CHECK_STR(msg_redact(out, sizeof(out), "[ghp_abcdef]"), "[***]");
	/* Two that overlap: neither's tail shows. */
	msg_forget_secrets();
	msg_add_secret("AAAABBBB");
	msg_add_secret("BBBBCCCC");
	CHECK_STR(msg_redact(out, sizeof(out), "x AAAABBBBCCCC y"), "x *** y");
	msg_add_secret("CCCCDDDD");
	CHECK_STR(msg_redact(out, sizeof(out), "AAAABBBBCCCCDDDD!"), "***!");
	msg_forget_secrets();
}

static void test_cut_at_the_end(void)
{
	char out[16];
	msg_forget_secrets();
	msg_add_secret("ghp_0123456789");
	/* The output buffer ends inside the secret: no character of it shows. */
	CHECK_STR(msg_redact(out, 10, "abcdefg ghp_0123456789"), "abcdefg *");
	CHECK_STR(msg_redact(out, 9, "abcdefg ghp_0123456789"), "abcdefg ");
	/* The formatted text ends inside the secret: the partial tail is dropped. */
	CHECK_STR(fmt(out, sizeof(out), "token %s", "ghp_0123456789"), "token ");
	CHECK_STR(fmt(out, sizeof(out), "tok=%s", "ghp_0123456789"), "tok=");
	CHECK(strstr(fmt(out, sizeof(out), "%s", "ghp_0123456789 and more"), "ghp_") == NULL);
	/* A tail that only looks like a beginning is dropped too when the text was cut, but a
	 * text that fits is left alone. */
	CHECK_STR(fmt(out, sizeof(out), "%s", "0123456789 ghp"), "0123456789 ghp");
	CHECK_STR(fmt(out, sizeof(out), "%s", "0123456789 ghp_0xyz"), "0123456789 ");
	/* Whole secrets in a formatted text are replaced as usual. */
	char big[128];
	CHECK_STR(fmt(big, sizeof(big), "GET %s?t=%s failed", "/x", "ghp_0123456789"),
		  "GET /x?t=*** failed");
	msg_forget_secrets();
}

int main(void)
{
	test_no_secrets();
	test_every_occurrence();
	test_too_short();
	test_overlapping();
	test_cut_at_the_end();
	return CHECK_DONE();
}
