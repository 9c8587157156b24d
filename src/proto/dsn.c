#include "proto/dsn.h"
