/* Unit tests for src/queue: envelope (pure) and spool (on disk). */
#include "queue_test.h"

int main(void)
{
	int failed = test_envelope_run();
	failed += test_spool_run();
	return failed ? 1 : 0;
}
