#include "kernel/sort.h"

void sort_u64(uint64_t *v, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j && v[j - 1] > v[j]; j--) {
			uint64_t t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

uint64_t median_u64(uint64_t *v, unsigned int n)
{
	if (!n)
		return 0;
	sort_u64(v, n);
	return v[n / 2];
}
