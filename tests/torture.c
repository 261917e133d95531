#include "tests/torture.h"
#include "kernel/cmdline.h"

uint64_t torture_duration_s = 10;
CMDLINE_U64(duration, torture_duration_s, 1, 86400, "seconds each torture suite runs");
