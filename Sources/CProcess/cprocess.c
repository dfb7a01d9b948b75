// The functions are static inline in include/cprocess.h; SwiftPM needs one source file.
#include "cprocess.h"
