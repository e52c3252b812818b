/* cmd-snapshot.c: stub */
#include "config.h"
#include "wschatd.h"
