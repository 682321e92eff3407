/* fuzz_config.c - libFuzzer target for the configuration loader (libconfig
 * syntax plus mailfuse's own validation of keys, limits, groups, exemptions). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = 0;
  char err[512];
  struct conf *c = conf_load_text(text, "fuzz", err, sizeof err);
  if (c) {
    /* exercise the lookups a loaded config serves */
    (void)conf_is_local_domain(c, "a.example.edu");
    (void)conf_group_of(c, "news@example.edu");
    (void)conf_exemption(c, "probe@example.edu", 1800000000);
    conf_free(c);
  }
  free(text);
  return 0;
}
