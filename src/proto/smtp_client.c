#include "proto/smtp_client.h"
