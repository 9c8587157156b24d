#include "conf/aliases.h"
