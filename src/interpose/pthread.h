/*
 * pthread.h - the interposed pthread_create; see pthread.c.
 */
#ifndef SCRY_INTERPOSE_PTHREAD_H
#define SCRY_INTERPOSE_PTHREAD_H

#include <pthread.h>

typedef int (*scry__pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
                                       void *);
/* libc's pthread_create, for scry's own threads (which are not profiled). */
scry__pthread_create_fn scry__real_pthread_create(void);

#endif
