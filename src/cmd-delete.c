/* cmd-delete.c: stub */
#include "config.h"
#include "wschatd.h"
