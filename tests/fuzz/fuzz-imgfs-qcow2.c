/* libFuzzer harness for the image readers, qcow2 images (the body is
 * shared: fuzz-imgfs.h). */
#define FUZZ_FORMAT "qcow2"
#include "fuzz-imgfs.h"
