/* libFuzzer harness for the disk-format inspector, iso images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "iso"
#include "fuzz-diskfmt.h"
