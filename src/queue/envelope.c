#include "queue/envelope.h"
