/*
 * record.h - the tracer's events as they sit in a thread's buffer
 * (trace/buffer.h), before the writer turns them into Perfetto packets
 * (format/perfetto.h).
 *
 * A record is a 16-byte header and a payload; its size is a multiple of 8
 * so the next header stays aligned. Timestamps are in the raw trace clock
 * (trace/clock.h); the writer converts them to nanoseconds. Strings are
 * copied in (the program's buffer may be gone by the time the writer runs),
 * NUL-terminated, and interned by the writer. Frames are return addresses,
 * leaf first, symbolized by the writer.
 *
 * One record per event: an interval (a wait, a system call) is written once
 * it ends, with its start in the header and its end in the payload, so
 * nothing is written while the thread is blocked and a begin never waits
 * for its end in a buffer.
 */
#ifndef SCRY_TRACE_RECORD_H
#define SCRY_TRACE_RECORD_H

#include <stdint.h>

enum {
    SCRY__TR_PAD = 0,      /* filler to the end of a chunk */
    SCRY__TR_THREAD_START, /* scry__tr_thread_t: first record of a thread */
    SCRY__TR_THREAD_NAME,  /* scry__tr_thread_t: renamed */
    SCRY__TR_THREAD_END,   /* scry__tr_thread_t, no name */
    SCRY__TR_TASK_BEGIN,   /* scry__tr_task_t */
    SCRY__TR_TASK_END,     /* scry__tr_task_t, no type */
    SCRY__TR_REGION_BEGIN, /* scry__tr_region_t */
    SCRY__TR_REGION_END,   /* scry__tr_region_t, no type: ends the innermost */
    SCRY__TR_LOG,          /* scry__tr_log_t */
    SCRY__TR_WAIT,         /* scry__tr_wait_t: blocked on a lock-like object */
    SCRY__TR_WAKE,         /* scry__tr_wake_t: released one that had waiters */
    SCRY__TR_SYSCALL,      /* scry__tr_syscall_t: a sleep or blocking call */
    SCRY__TR_SAMPLE,       /* scry__tr_frames_t: a CPU profile sample */
    SCRY__TR_ALLOC,        /* scry__tr_alloc_t: an allocation above the threshold */
    SCRY__TR_DROPPED,      /* scry__tr_dropped_t: records this thread lost just before */
    SCRY__TR_COUNT
};

/* What a SYSCALL record was. */
enum {
    SCRY__TS_READ = 0, /* read, readv, pread */
    SCRY__TS_WRITE,    /* write, writev, pwrite */
    SCRY__TS_RECV,     /* recv, recvfrom, recvmsg */
    SCRY__TS_SEND,     /* send, sendto, sendmsg */
    SCRY__TS_ACCEPT,   /* accept, accept4 */
    SCRY__TS_CONNECT,
    SCRY__TS_SLEEP,    /* nanosleep, clock_nanosleep, sleep, usleep */
    SCRY__TS_POLL,     /* poll, ppoll, select, pselect, epoll_wait, epoll_pwait */
    SCRY__TS_SIGWAIT,  /* pause, sigsuspend, sigwait, sigwaitinfo, sigtimedwait */
    SCRY__TS_COUNT
};

/* What a WAKE record was (a WAIT's kind is a SCRY__TW_* of core/waits.h). */
enum {
    SCRY__TK_UNLOCK = 0, /* mutex, rwlock or C11 mutex */
    SCRY__TK_SIGNAL,     /* condition variable signal */
    SCRY__TK_BROADCAST,
    SCRY__TK_POST,       /* semaphore */
    SCRY__TK_COUNT
};

typedef struct {
    uint16_t type;
    uint16_t size; /* bytes, header included, a multiple of 8 */
    uint32_t aux;  /* per type, below */
    uint64_t ts;   /* raw trace clock; the start, for an interval */
} scry__trec_t;

/* THREAD_START, THREAD_NAME, THREAD_END. aux: name length. */
typedef struct {
    scry__trec_t h;
    int32_t tid;
    int32_t pad;
    char name[]; /* NUL-terminated */
} scry__tr_thread_t;

/* TASK_BEGIN, TASK_END. aux: type length (0 for an end). */
typedef struct {
    scry__trec_t h;
    uint64_t id;
    uint64_t parent;     /* 0: none */
    uint64_t span_id;    /* the span it belongs to (scry.h spans), 0: none */
    uint8_t trace_id[16];
    char type[];
} scry__tr_task_t;

/* REGION_BEGIN, REGION_END. aux: type length (0 for an end). */
typedef struct {
    scry__trec_t h;
    uint64_t task; /* the thread's current task, 0: none */
    char type[];
} scry__tr_region_t;

/* LOG. aux: category length; the message follows the category's NUL. */
typedef struct {
    scry__trec_t h;
    uint64_t task;
    uint32_t message_len;
    uint32_t pad;
    char text[]; /* category \0 message \0 */
} scry__tr_log_t;

/* WAIT. aux: frames (0 unless stacks were asked for). */
typedef struct {
    scry__trec_t h;
    uint64_t t1;   /* end of the wait */
    uint64_t obj;  /* the lock, condition variable, semaphore, thread */
    uint64_t flow; /* the WAKE that ended it, 0: unknown */
    int32_t kind;  /* SCRY__TW_* */
    int32_t pad;
    uint64_t frames[];
} scry__tr_wait_t;

/* WAKE. aux: 0. */
typedef struct {
    scry__trec_t h;
    uint64_t obj;
    uint64_t flow; /* matched by the WAIT it ends */
    int32_t kind;  /* SCRY__TK_* */
    int32_t pad;
} scry__tr_wake_t;

/* SYSCALL. aux: 0. */
typedef struct {
    scry__trec_t h;
    uint64_t t1;
    int64_t result; /* the call's return value (bytes, fd, -1) */
    int32_t kind;   /* SCRY__TS_* */
    int32_t fd;     /* -1 when the call has none */
} scry__tr_syscall_t;

/* SAMPLE. aux: frames. */
typedef struct {
    scry__trec_t h;
    uint64_t frames[];
} scry__tr_frames_t;

/* ALLOC. aux: frames (0 unless stacks were asked for). */
typedef struct {
    scry__trec_t h;
    uint64_t size;
    uint64_t addr;
    uint64_t frames[];
} scry__tr_alloc_t;

/* DROPPED. aux: 0. */
typedef struct {
    scry__trec_t h;
    uint64_t count;
} scry__tr_dropped_t;

/* Bytes a record with `payload` bytes after its header takes. */
static inline uint32_t scry__trec_size(uint32_t header_and_fixed, uint32_t variable)
{
    return (header_and_fixed + variable + 7u) & ~7u;
}

/* Names, for the writer and for messages. */
const char *scry__trace_syscall_name(int kind);
const char *scry__trace_wake_name(int kind);

#endif
