/* The "# spf: attempts=N success=N ..." diagnostic line of a test case. */
#ifndef TESTS_SPF_STATS_H
#define TESTS_SPF_STATS_H

#include <stdint.h>
#include "mm/spf.h"

/* Print the speculative fault's counts since before (NULL: since boot). */
void spf_stats_print(const uint64_t before[NR_SPF_STATS]);

#endif
