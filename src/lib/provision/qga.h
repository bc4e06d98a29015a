/* The QEMU guest agent's messages (qemu-ga, Debian's qemu-guest-agent):
 * the commands rain sends to reach a guest without network (agent.c) and
 * the reading of their replies. Pure: no I/O, so that the unit tests and
 * fuzz-qga reach it; a transport (libvirt's virDomainQemuAgentCommand, or
 * the channel's socket) carries the text.
 *
 * A reply is the guest's text and is read as hostile: anything that is not
 * a JSON object with the expected "return" member of the expected types is
 * RAIN_EFORMAT with a message naming the command and what was wrong; an
 * {"error": {"class", "desc"}} reply is RAIN_EIO with the agent's words
 * (unprintable bytes shown as '?', cut at 200). Decoded data is bounded
 * by QGA_REPLY_MAX.
 */
#ifndef RAIN_PROVISION_QGA_H
#define RAIN_PROVISION_QGA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest reply read (qemu-ga's guest-file-read gives at most 48 MiB
 * base64-encoded; rain asks for QGA_READ_CHUNK at a time). */
#define QGA_REPLY_MAX (16u << 20)
#define QGA_READ_CHUNK (1u << 20)

#define QGA_CMD_PING "{\"execute\":\"guest-ping\"}"

/* Commands, each a new string (free()), NULL when out of memory. */
/* guest-exec of path with args (NULL-terminated, may be NULL) and env
 * ("NAME=VALUE", NULL: qemu-ga's own), input (input_len bytes, may be
 * NULL) given as its stdin, capture: its stdout and stderr kept by qemu-ga
 * and returned by guest-exec-status at its end. */
char *qga_cmd_exec(const char *path, const char *const *args, const char *const *env,
		   const void *input, size_t input_len, bool capture);
char *qga_cmd_exec_status(int64_t pid);
/* mode as fopen's ("r", "w") */
char *qga_cmd_file_open(const char *path, const char *mode);
char *qga_cmd_file_read(int64_t handle, size_t count);
/* guest-file-seek to offset from the start; it also clears the stream's
 * end-of-file mark, so that a read after it sees what was written since */
char *qga_cmd_file_seek(int64_t handle, int64_t offset);
char *qga_cmd_file_close(int64_t handle);

/* A reply whose "return" is anything (guest-ping, guest-file-close). */
int qga_parse_ok(const char *reply, const char *what);
/* guest-exec: {"return": {"pid": N}} */
int qga_parse_exec(const char *reply, int64_t *pid);

/* guest-exec-status's answer. out/err are new (free with
 * qga_exec_status_clear), NULL when the reply had none. */
struct qga_exec_status {
	bool exited;
	int exitcode;                   /* when exited and not signaled */
	int signal;                     /* > 0: ended by this signal */
	unsigned char *out, *err;       /* the captured output, decoded */
	size_t out_len, err_len;
	bool truncated;                 /* qemu-ga dropped some of it */
};
int qga_parse_exec_status(const char *reply, struct qga_exec_status *st);
void qga_exec_status_clear(struct qga_exec_status *st);

/* guest-file-open: {"return": HANDLE} */
int qga_parse_file_open(const char *reply, int64_t *handle);
/* guest-file-read: {"return": {"count": N, "buf-b64": B64, "eof": B}}; *buf
 * new (free()), NUL-terminated for convenience, *len == count. */
int qga_parse_file_read(const char *reply, unsigned char **buf, size_t *len, bool *eof);

/* The status a shell would give (exit code, or 128 + signal). */
int qga_exit_status(const struct qga_exec_status *st);

#endif
