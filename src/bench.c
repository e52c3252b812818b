#include "config.h"
#include "wschatd.h"
int main(void){return 0;}
