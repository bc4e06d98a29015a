/* libFuzzer harness for the disk-format inspector, qcow2 images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "qcow2"
#include "fuzz-diskfmt.h"
