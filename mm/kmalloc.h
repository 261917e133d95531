/*
 * kmalloc: power-of-two size classes from 16 bytes to 2 KiB carved from
 * single pages; larger requests get whole pages. Any context but NMI.
 * Freed objects are poisoned like pages so a stale reader sees garbage
 * that cannot pass for a live object.
 */
#ifndef MM_KMALLOC_H
#define MM_KMALLOC_H

#include <stddef.h>

void *kmalloc(size_t size);
void *kzalloc(size_t size);
void kfree(void *p);
/* Objects allocated and not freed, for leak checks. */
long kmalloc_in_use(void);

#endif
