/* Fuzzes the account file parser: every entry it accepts has a valid,
 * lower-case name and a non-empty value without control bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/account.h"
#include "auth/passwd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct passwd_db db = { 0 };
	char err[256];
	if (passwd_parse((const char *)data, size, &db, err, sizeof err) == 0) {
		for (size_t i = 0; i < db.n; i++) {
			char norm[ACCOUNT_NAME_MAX + 1];
			if (!account_normalise(db.entries[i].name, norm, sizeof norm) ||
			    strcmp(norm, db.entries[i].name) != 0 || !*db.entries[i].value)
				abort();
			for (const char *v = db.entries[i].value; *v; v++)
				if ((unsigned char)*v < 0x20)
					abort();
		}
	}
	passwd_free(&db);
	return 0;
}
