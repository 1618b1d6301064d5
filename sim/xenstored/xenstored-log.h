/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: logging to stderr with sd-daemon "<N>" priority prefixes.
 * Debug lines only appear with -v.  Client-supplied strings must go through
 * log_escape() first.
 */
#ifndef XENSIM_XENSTORED_LOG_H
#define XENSIM_XENSTORED_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

extern bool log_verbose;

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Printable, bounded copy of untrusted bytes (C escapes, "..." when cut). */
const char *log_escape(char *buf, size_t size, const void *data, size_t len);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
