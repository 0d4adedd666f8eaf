/* Helpers shared by the test programs: reading the reference JSON/binary files and running the
 * tern binary as a subprocess. */
#ifndef TN_TESTS_TESTUTIL_H
#define TN_TESTS_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/* The integer array stored under "key" in a JSON text (first occurrence); malloc'd, *n = length.
 * NULL if the key is missing or not an array of integers. */
int32_t *tt_json_int_array(const char *json, const char *key, int *n);
/* The number stored under "key" (first occurrence); NAN if missing. */
double tt_json_number(const char *json, const char *key);
/* max |a[i] - b[i]| over n floats (a NaN difference counts as the maximum). */
double tt_max_diff(const float *a, const float *b, size_t n);
/* Reads n floats from a raw little-endian float32 file; NULL on failure. */
float *tt_read_f32(const char *path, size_t n);
/* Runs `cmd` through sh, capturing stdout+stderr (up to cap-1 bytes) into out. Returns the exit
 * status, or 128+signal if it was killed by a signal, or -1 if it could not run. */
int tt_run(const char *cmd, char *out, size_t cap);
/* Path of the tern binary under test ($TERN_BIN, default build/tern). */
const char *tt_tern_bin(void);

#endif
