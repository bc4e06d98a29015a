/* libFuzzer harness for the image readers, tar images (the body is
 * shared: fuzz-imgfs.h). */
#define FUZZ_FORMAT "tar"
#include "fuzz-imgfs.h"
