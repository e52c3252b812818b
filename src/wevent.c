/* event.c: stub */
#include "config.h"
#include "wschatd.h"
