/* libFuzzer harness for the image readers, partitioned disks (the body is
 * shared: fuzz-imgfs.h). */
#define FUZZ_FORMAT "disk"
#include "fuzz-imgfs.h"
