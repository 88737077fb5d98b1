/*
 * perfetto.h - turns the tracer's records (trace/record.h) into Perfetto's
 * protobuf trace format: a stream of `Trace.packet` entries (TracePacket),
 * each written as field 1 of the top-level Trace message, so that any
 * concatenation of what the sink receives is itself a valid trace file.
 *
 * The format, from Perfetto's published protos (format/perfetto_trace.proto
 * holds the subset scry writes, field for field):
 *   - one TrackDescriptor for the process, one per thread (a child of the
 *     process, with a ThreadDescriptor), one per task (tasks cross threads:
 *     an async track of their own, a child of the process);
 *   - TrackEvents with interned names and categories (InternedData), on one
 *     packet sequence whose incremental state is cleared at the start and
 *     at every generation (below);
 *   - timestamps in CLOCK_MONOTONIC nanoseconds, with ClockSnapshot packets
 *     tying them to the boot clock Perfetto uses.
 * What each record becomes, and the uuids of the tracks, are written at
 * the top of perfetto.c and next to each case there.
 *
 * Runs on the tracer's writer thread only (one converter is not thread
 * safe); allocates freely, within fixed bounds (perfetto.c). Records that
 * are malformed (a size too small for their type, an unknown type, string
 * lengths past their end) are skipped or cut to the record; never read
 * past rec->size.
 */
#ifndef SCRY_FORMAT_PERFETTO_H
#define SCRY_FORMAT_PERFETTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "trace/record.h"

typedef struct scry__perfetto scry__perfetto_t;

/* Where the encoded packets go: each call gets whole Trace.packet fields.
 * Returns 0, or -1 when it cannot take them (the converter then stops
 * sending, for good, and scry__perfetto_failed says so). */
typedef int (*scry__perfetto_sink_fn)(void *ctx, const void *buf, size_t len);

/* pid and process name as the process descriptor says them (name may be
 * NULL). NULL when out of memory. */
scry__perfetto_t *scry__perfetto_new(scry__perfetto_sink_fn sink, void *ctx, pid_t pid,
                                     const char *process_name);
/* Frees everything; what finish did not write is lost. */
void scry__perfetto_free(scry__perfetto_t *p);

/* One record of thread tid: rec->size bytes at rec, 8-byte aligned. ts_ns
 * and end_ns: the record's start and (for WAIT and SYSCALL) end, already in
 * CLOCK_MONOTONIC nanoseconds; end_ns is 0 for the others. Records of one
 * thread come in the order it wrote them; threads interleave in any order.
 * A WAIT or SAMPLE or ALLOC with frames symbolizes them with the process's
 * shared symbolizer (format/symbolize.h), held from then until the next
 * flush. */
void scry__perfetto_record(scry__perfetto_t *p, pid_t tid, const scry__trec_t *rec, int64_t ts_ns,
                           int64_t end_ns);

/* A flight recorder generation boundary at ts_ns, in two steps around the
 * caller switching the sink's destination:
 *   end_generation: ends every slice still open (regions, tasks) at ts_ns,
 *     remembering them, writes a clock snapshot and flushes: the old
 *     generation is complete;
 *   begin_generation: the next packet clears incremental state, every
 *     descriptor and interned string is written again when next used, and
 *     the remembered slices begin again at ts_ns.
 * So each generation stands on its own whichever older ones are dropped,
 * and a region that spans a boundary shows as two slices of the same name.
 * A record that comes between the two begins the generation itself (at its
 * own timestamp); begin_generation without end_generation ends first. */
void scry__perfetto_end_generation(scry__perfetto_t *p, int64_t ts_ns);
void scry__perfetto_begin_generation(scry__perfetto_t *p, int64_t ts_ns);

/* Ends what is still open at ts_ns (slices of regions and tasks not ended
 * when the trace stops), then writes a final clock snapshot and buffered
 * bytes, and forgets the open slices. Right after end_generation it writes
 * nothing (all is ended already). */
void scry__perfetto_finish(scry__perfetto_t *p, int64_t ts_ns);

/* Sends buffered packets to the sink now, and lets go of the symbolizer:
 * call it whenever the writer has nothing more to convert for a while.
 * (Packets also go out by themselves whenever 64 KiB are buffered.) */
void scry__perfetto_flush(scry__perfetto_t *p);

/* Events scry dropped that this converter saw reported (the counts of
 * DROPPED records), plus records it could not represent itself (out of
 * memory, more open tasks or threads or nested regions than it keeps). */
uint64_t scry__perfetto_dropped(const scry__perfetto_t *p);
/* Nonzero once the sink refused bytes. */
int scry__perfetto_failed(const scry__perfetto_t *p);

#endif
