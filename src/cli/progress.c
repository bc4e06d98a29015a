/* Progress display on stderr and interruption by signals. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/timeutil.h"

#define REDRAW_US 100000        /* at most ten redraws a second */
#define LINE_UNKNOWN_US 10000000 /* without a TTY or a total: every 10 s */

volatile sig_atomic_t cli_interrupted;

static void on_signal(int sig)
{
	cli_interrupted = sig;
}

void cli_catch_signals(bool on)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on ? on_signal : SIG_DFL;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

void cli_progress_init(struct cli_progress *p, const struct cli *cli, const char *label,
		       int64_t base)
{
	memset(p, 0, sizeof(*p));
	p->label = label;
	p->tty = isatty(STDERR_FILENO);
	p->silent = cli->quiet;
	p->start_us = time_mono_us();
	p->last_line_us = p->start_us;
	p->base = base;
	p->done = base;
	p->total = -1;
	p->last_decile = base > 0 ? -1 : 0;
}

/* Bytes per second since the start, or -1 when too early to tell. */
static double rate(const struct cli_progress *p, int64_t now)
{
	double secs = (double)(now - p->start_us) / 1e6;

	if (secs < 0.5 || p->done <= p->base)
		return -1;
	return (double)(p->done - p->base) / secs;
}

static void format_duration(double secs, char *out, size_t outlen)
{
	long s = (long)(secs + 0.5);

	if (s >= 3600)
		snprintf(out, outlen, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(out, outlen, "%ld:%02ld", s / 60, s % 60);
}

static int term_width(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
		return ws.ws_col;
	return 80;
}

/* "45%  123.4 MiB/300.0 MiB  12.3 MiB/s  ETA 0:15" (no percent or ETA
 * when the total is unknown). */
static void status_text(const struct cli_progress *p, int64_t now, bool final,
			char *out, size_t outlen)
{
	char done[32], total[32], speed[48] = "", eta[48] = "";
	double r = rate(p, now);

	cli_format_size(p->done, done, sizeof(done));
	if (r >= 0) {
		char sz[32];

		cli_format_size((int64_t)r, sz, sizeof(sz));
		snprintf(speed, sizeof(speed), "  %s/s", sz);
	}
	if (p->total > 0) {
		int pct = (int)(p->done * 100 / p->total);

		cli_format_size(p->total, total, sizeof(total));
		if (final) {
			format_duration((double)(now - p->start_us) / 1e6, eta, sizeof(eta));
			snprintf(out, outlen, "%3d%%  %s/%s%s  in %s", pct, done, total, speed, eta);
			return;
		}
		if (r > 0 && p->total >= p->done) {
			char d[24];

			format_duration((double)(p->total - p->done) / r, d, sizeof(d));
			snprintf(eta, sizeof(eta), "  ETA %s", d);
		}
		snprintf(out, outlen, "%3d%%  %s/%s%s%s", pct, done, total, speed, eta);
	} else if (final) {
		format_duration((double)(now - p->start_us) / 1e6, eta, sizeof(eta));
		snprintf(out, outlen, "%s%s  in %s", done, speed, eta);
	} else {
		snprintf(out, outlen, "%s%s", done, speed);
	}
}

static void draw_tty(struct cli_progress *p, int64_t now, bool final)
{
	char text[160], bar[256];
	int width = term_width(), barw;

	status_text(p, now, final, text, sizeof(text));
	/* a fixed width, so the bar does not jump as the numbers change;
	 * the text after it takes at most about 52 columns */
	barw = width - (int)strlen(p->label) - 56;
	if (barw > 40)
		barw = 40;
	if (p->total > 0 && barw >= 10) {
		int fill = (int)((double)p->done / (double)p->total * barw);

		if (fill > barw)
			fill = barw;
		bar[0] = '[';
		memset(bar + 1, '#', (size_t)fill);
		memset(bar + 1 + fill, '.', (size_t)(barw - fill));
		bar[barw + 1] = ']';
		bar[barw + 2] = ' ';
		bar[barw + 3] = '\0';
	} else {
		bar[0] = '\0';
	}
	fprintf(stderr, "\r%s %s%s\033[K", p->label, bar, text);
	fflush(stderr);
	p->drawn = true;
}

int cli_progress_cb(void *ud, int64_t done, int64_t total)
{
	struct cli_progress *p = ud;
	int64_t now;

	if (cli_interrupted)
		return 1;
	p->done = done;
	p->total = total;
	if (p->silent)
		return 0;
	now = time_mono_us();
	if (p->tty) {
		if (now - p->last_draw_us >= REDRAW_US) {
			p->last_draw_us = now;
			draw_tty(p, now, false);
		}
		return 0;
	}
	if (total > 0) {
		int decile = (int)(done * 10 / total);

		/* quick transfers get just the final line */
		if (decile > p->last_decile && decile < 10 &&
		    now - p->start_us >= 1000000) {
			char text[160];

			p->last_decile = decile;
			status_text(p, now, false, text, sizeof(text));
			fprintf(stderr, "rain: %s %s\n", p->label, text);
		}
	} else if (now - p->last_line_us >= LINE_UNKNOWN_US) {
		char text[160];

		p->last_line_us = now;
		status_text(p, now, false, text, sizeof(text));
		fprintf(stderr, "rain: %s %s\n", p->label, text);
	}
	return 0;
}

void cli_progress_end(struct cli_progress *p, bool ok)
{
	int64_t now = time_mono_us();

	if (p->silent)
		return;
	if (p->tty) {
		if (ok) {
			draw_tty(p, now, true);
			fputc('\n', stderr);
		} else if (p->drawn) {
			fputc('\n', stderr);
		}
		return;
	}
	if (ok) {
		char text[160];

		status_text(p, now, true, text, sizeof(text));
		fprintf(stderr, "rain: %s %s\n", p->label, text);
	}
}
