/* Error numbers, returned negated (-EINVAL) as Linux does. */
#ifndef KERNEL_ERRNO_H
#define KERNEL_ERRNO_H

#define ENOMEM	12
#define EFAULT	14
#define EINVAL	22

#endif
