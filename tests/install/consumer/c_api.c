/* sieve.h compiles as C and links against the installed libsieve_c.so. */
#include "sieve/sieve.h"

#include <stdio.h>
#include <string.h>

int main(void) {
  if (sieve_api_version() != SIEVE_C_API_VERSION)
    return 1;
  sieve_context ctx = NULL;
  if (sieve_context_create(SIEVE_BACKEND_CPU, 0, &ctx) != SIEVE_OK) {
    fprintf(stderr, "%s\n", sieve_last_error());
    return 1;
  }
  /* A freed handle is an error, not a crash. */
  if (sieve_context_destroy(ctx) != SIEVE_OK ||
      sieve_context_destroy(ctx) != SIEVE_ERROR_INVALID_HANDLE)
    return 1;
  printf("C API %s: %s\n", sieve_version(), sieve_last_error());
  return strstr(sieve_last_error(), "not a live context") ? 0 : 1;
}
