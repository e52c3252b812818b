#include "ws.h"
