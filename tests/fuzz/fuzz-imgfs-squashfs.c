/* libFuzzer harness for the image readers, squashfs images (the body is
 * shared: fuzz-imgfs.h). */
#define FUZZ_FORMAT "squashfs"
#include "fuzz-imgfs.h"
