/* placeholder until the real subcommand lands */
#include <stdio.h>
#include "cli/common.h"
int cmd_serve(int argc, char **argv)
{
	(void)argc; (void)argv;
	fputs("facteur: 'serve' is not built yet\n", stderr);
	return 1;
}
