/* placeholder until the real subcommand lands */
#include <stdio.h>
#include "cli/common.h"
int cmd_user(int argc, char **argv)
{
	(void)argc; (void)argv;
	fputs("facteur: 'user' is not built yet\n", stderr);
	return 1;
}
