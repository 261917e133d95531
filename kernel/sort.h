/*
 * Sorting and medians of small arrays of samples (calibration rounds,
 * benchmark batches): insertion sort, in place, no allocation, callable
 * from any context.
 */
#ifndef KERNEL_SORT_H
#define KERNEL_SORT_H

#include <stdint.h>

/* Sort v[0..n) into ascending order. */
void sort_u64(uint64_t *v, unsigned int n);

/*
 * Sort v[0..n) and return its middle element (the upper one of the two
 * middle ones when n is even); 0 when n is 0.
 */
uint64_t median_u64(uint64_t *v, unsigned int n);

#endif
