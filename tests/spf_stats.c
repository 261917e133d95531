#include "tests/spf_stats.h"
#include "tests/ktap.h"

void spf_stats_print(const uint64_t before[NR_SPF_STATS])
{
	char buf[400];

	spf_stats_format(buf, sizeof(buf), before);
	ktap_diag("spf: %s", buf);
}
