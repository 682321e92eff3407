/* fuzz_hostnets.c - libFuzzer target for the site list of hosting networks
 * (hosting_networks_file: "AS64500 # note" or "CIDR # note" lines). The
 * loader reads a file, so each input is written to one first. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/hostnets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz-hostnets-%d.txt", (int)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  char err[512];
  struct hostnets *h = hostnets_new(path, err, sizeof err);
  if (h) {
    (void)hostnets_match(h, "198.51.100.7", 64510);
    (void)hostnets_match(h, "2001:db8::1", 0);
    hostnets_free(h);
  }
  return 0;
}
