/* Error reporting for libtern: functions return an error code or NULL and leave a message that
 * tn_last_error() returns. The message buffer is thread-local, so concurrent contexts on different
 * threads do not clobber each other's messages. */
#ifndef TN_CORE_ERROR_H
#define TN_CORE_ERROR_H

#include <stdarg.h>

/* Sets the calling thread's last error message (printf-style). Always returns -1 so callers can
 * write `return tn_set_error(...)`. */
int tn_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *tn_last_error(void);
void tn_clear_error(void);

#endif
