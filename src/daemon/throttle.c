#include "daemon/throttle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THROTTLE_SLOTS 4096
#define THROTTLE_FORGET_SEC (15 * 60)
#define THROTTLE_MAX_MS 30000u

struct slot {
	char addr[64];
	unsigned failures;
	time_t last;
};

struct auth_throttle {
	unsigned base_ms;
	struct slot slots[THROTTLE_SLOTS];
};

static struct slot *slot_for(struct auth_throttle *t, const char *addr)
{
	/* FNV-1a */
	uint32_t h = 2166136261u;
	for (const char *p = addr; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return &t->slots[h % THROTTLE_SLOTS];
}

struct auth_throttle *throttle_new(unsigned base_delay_ms)
{
	struct auth_throttle *t = calloc(1, sizeof *t);
	if (t)
		t->base_ms = base_delay_ms;
	return t;
}

void throttle_free(struct auth_throttle **tp)
{
	free(*tp);
	*tp = NULL;
}

unsigned throttle_failure(struct auth_throttle *t, const char *addr, time_t now)
{
	struct slot *s = slot_for(t, addr);
	if (strcmp(s->addr, addr) != 0 || now - s->last > THROTTLE_FORGET_SEC) {
		snprintf(s->addr, sizeof s->addr, "%s", addr);
		s->failures = 0;
	}
	s->last = now;
	if (s->failures < 100)
		s->failures++;
	unsigned shift = s->failures - 1 < 4 ? s->failures - 1 : 4;
	uint64_t ms = (uint64_t)t->base_ms << shift;
	return ms > THROTTLE_MAX_MS ? THROTTLE_MAX_MS : (unsigned)ms;
}

void throttle_success(struct auth_throttle *t, const char *addr)
{
	struct slot *s = slot_for(t, addr);
	if (strcmp(s->addr, addr) == 0)
		s->failures = 0;
}
