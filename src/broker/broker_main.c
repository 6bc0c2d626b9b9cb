/* broker_main.c - placeholder until the broker lands: refuses to run rather than pretend. */
#include <stdio.h>

#include "tools/commands.h"

int rampart_broker_main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "rampart: the broker is not built yet\n");
    return 1;
}
