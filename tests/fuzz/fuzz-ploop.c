/* libFuzzer harness for the disk-format inspector, ploop images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "ploop"
#include "fuzz-diskfmt.h"
