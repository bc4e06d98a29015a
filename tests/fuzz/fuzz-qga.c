/* libFuzzer harness for the reading of QEMU guest agent replies
 * (src/lib/provision/qga.c): the guest's text is hostile. The input is
 * given to every reply parser; each succeeds or fails with a message,
 * and what a success hands back holds: a pid and a handle in range, an
 * exit status 0..255 or 128 + a signal, decoded data of the length read,
 * a file read's count equal to its data. Never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/provision/qga.h"
#include "rain/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	struct qga_exec_status st;
	unsigned char *buf;
	int64_t v;
	size_t len;
	bool eof;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (qga_parse_ok(text, "guest-ping") < 0 && !*rain_error_last())
		__builtin_trap();
	if (qga_parse_exec(text, &v) == 0 && (v < 1 || v > INT32_MAX))
		__builtin_trap();
	if (qga_parse_file_open(text, &v) == 0 && v < 0)
		__builtin_trap();
	if (qga_parse_exec_status(text, &st) == 0) {
		int s = qga_exit_status(&st);

		if (st.exited && (s < 0 || s > 255))
			__builtin_trap();
		if ((st.out_len && !st.out) || (st.err_len && !st.err))
			__builtin_trap();
		if (st.out && st.out_len)
			(void)memchr(st.out, 0, st.out_len);   /* readable to its end */
		qga_exec_status_clear(&st);
	} else if (st.out || st.err) {
		__builtin_trap();
	}
	if (qga_parse_file_read(text, &buf, &len, &eof) == 0) {
		if (!buf || len > QGA_REPLY_MAX)
			__builtin_trap();
		(void)memchr(buf, 0, len + 1);
		free(buf);
	} else if (buf) {
		__builtin_trap();
	}
	free(text);
	return 0;
}
