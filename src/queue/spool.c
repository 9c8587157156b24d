#include "queue/spool.h"
