#include "net/dns.h"
