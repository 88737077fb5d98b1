/*
 * trace_stat.c - what a scry trace holds, as numbers for bench/trace.sh:
 * its bytes, its track events (by type and category), the time they span,
 * and the "dropped events" instants scry writes where a thread lost events.
 *
 * Usage: trace_stat FILE. Prints one "key value" line each:
 *   bytes, packets, events, begins, ends, instants, span_seconds (first to
 *   last track event), events_per_second and bytes_per_second (over that
 *   span), bytes_per_event, dropped_instants, dropped_count, malformed
 *   (1 when the walk stopped early), and "category NAME N" per category.
 * Exit status 1 when the file cannot be read.
 */
#define _GNU_SOURCE
#include <stdio.h>

#include "trace_pb.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: trace_stat FILE\n");
        return 2;
    }
    tpb_stats_t st;
    if (tpb_read(argv[1], &st) < 0) {
        fprintf(stderr, "trace_stat: cannot read %s\n", argv[1]);
        return 1;
    }
    double span = st.last_ts > st.first_ts ? (double)(st.last_ts - st.first_ts) / 1e9 : 0;
    printf("bytes %llu\n", (unsigned long long)st.bytes);
    printf("packets %llu\n", (unsigned long long)st.packets);
    printf("events %llu\n", (unsigned long long)st.events);
    printf("begins %llu\nends %llu\ninstants %llu\n", (unsigned long long)st.begins,
           (unsigned long long)st.ends, (unsigned long long)st.instants);
    printf("span_seconds %.6f\n", span);
    printf("events_per_second %.0f\n", span > 0 ? (double)st.events / span : 0);
    printf("bytes_per_second %.0f\n", span > 0 ? (double)st.bytes / span : 0);
    printf("bytes_per_event %.2f\n", st.events ? (double)st.bytes / (double)st.events : 0);
    printf("dropped_instants %llu\ndropped_count %llu\n", (unsigned long long)st.dropped_instants,
           (unsigned long long)st.dropped_count);
    printf("malformed %d\n", st.bad);
    for (int i = 0; i < st.ncats; i++)
        printf("category %s %llu\n", st.cats[i].name[0] ? st.cats[i].name : "(none)",
               (unsigned long long)st.cats[i].n);
    return 0;
}
