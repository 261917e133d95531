/* Error numbers, returned negated (-EINVAL) as Linux does. The user
 * programs' ABI (kernel/syscall_abi.h) uses the same numbers. */
#ifndef KERNEL_ERRNO_H
#define KERNEL_ERRNO_H

#define ENOEXEC		8
#define ENOMEM		12
#define EFAULT		14
#define EINVAL		22
#define ENAMETOOLONG	36
#define ENOSYS		38

#endif
