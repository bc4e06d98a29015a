/* libFuzzer harness for the disk-format inspector, vmdk images (the body
 * is shared: fuzz-diskfmt.h). */
#define FUZZ_FORMAT "vmdk"
#include "fuzz-diskfmt.h"
