// The part of libsystemd (from Debian's libsystemd-dev) that SplitKey uses: sd_notify,
// sd_watchdog_enabled and sd_listen_fds_with_names (sd-daemon.h) and sd_journal_sendv (sd-journal.h).
//
// The daemons pass their own CODE_FILE/CODE_LINE fields when they want them, so the location
// macros of sd-journal.h (which would expand __FILE__ of this header) are suppressed.
// Swift cannot call the variadic functions (sd_notifyf, sd_journal_send, sd_journal_print):
// callers use sd_notify with a preformatted string and sd_journal_sendv with iovecs.
#ifndef SPLITKEY_CSYSTEMD_SHIM_H
#define SPLITKEY_CSYSTEMD_SHIM_H

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

#endif
