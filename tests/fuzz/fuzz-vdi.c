/* libFuzzer harness for the disk-format inspector, vdi images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "vdi"
#include "fuzz-diskfmt.h"
