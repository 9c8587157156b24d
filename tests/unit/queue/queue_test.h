/* Shared by the queue unit tests: the two groups and the helpers both use. */
#ifndef FACTEUR_TESTS_QUEUE_TEST_H
#define FACTEUR_TESTS_QUEUE_TEST_H

#include <stdbool.h>

#include "queue/envelope.h"

/* Each returns the number of failed tests. */
int test_envelope_run(void);
int test_spool_run(void);

/* Field by field, strings by content (NULL only equals NULL). */
bool queue_test_env_equal(const struct queue_env *a, const struct queue_env *b);
/* A typical entry with three recipients (one local, one sent, one failed). */
void queue_test_env_make(struct queue_env *env, const char *id);

#endif
