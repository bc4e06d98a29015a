/* libFuzzer harness for the disk-format inspector, vhd images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "vhd"
#include "fuzz-diskfmt.h"
