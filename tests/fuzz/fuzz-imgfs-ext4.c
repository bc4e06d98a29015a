/* libFuzzer harness for the image readers, ext4 images (the body is
 * shared: fuzz-imgfs.h). */
#define FUZZ_FORMAT "ext4"
#include "fuzz-imgfs.h"
