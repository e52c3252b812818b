/* cmd-sub.c: stub */
#include "config.h"
#include "wschatd.h"
