#ifndef SPLITKEY_CPROCESS_H
#define SPLITKEY_CPROCESS_H
// prctl(2) is variadic, which Swift does not import; these wrappers give it fixed arguments.
#include <sys/prctl.h>

static inline int splitkey_set_dumpable(int dumpable) { return prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0); }
static inline int splitkey_get_dumpable(void) { return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0); }

#endif
