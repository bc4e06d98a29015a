/* The site drivers built into librain (src/lib/target/drivers/), listed in
 * target.c's table in this order. */
#ifndef RAIN_TARGET_INTERNAL_H
#define RAIN_TARGET_INTERNAL_H

#include "rain/sys/target.h"

#endif
