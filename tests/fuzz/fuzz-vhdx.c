/* libFuzzer harness for the disk-format inspector, vhdx images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "vhdx"
#include "fuzz-diskfmt.h"
