/*
 * metrics.h - runtime metrics (runtime.c), user metrics (user.c) and their
 * Prometheus/OpenMetrics exposition (exposition.c). The public side is in
 * include/scry.h.
 */
#ifndef SCRY_METRICS_METRICS_H
#define SCRY_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdio.h>

#include "scry.h"

/* Set once anyone reads metrics (or the server runs): from then on the
 * aggregator calls scry__metrics_tick() every second. */
extern _Atomic int scry__metrics_wanted;
void scry__metrics_tick(void);

/* Calls fn for every user metric, with its current value summed over every
 * thread (v's histogram fields for histograms). fn gets the metric's name,
 * help, and labels in exposition form (`k="v",k2="v2"`, "" for none). */
typedef void (*scry__user_metric_fn)(const char *name, const char *help, const char *labels,
                                     const scry_metric_value_t *v, void *arg);
void scry__user_metrics_each(scry__user_metric_fn fn, void *arg);

/* Fork: the user metrics' lock, in lifecycle's order (after the profiles'). */
void scry__user_metrics_prefork(void);
void scry__user_metrics_postfork_parent(void);
void scry__user_metrics_postfork_child(void);

/* Writes every runtime and user metric in Prometheus text format 0.0.4, or
 * OpenMetrics 1.0 with openmetrics. */
void scry__metrics_expose(FILE *f, int openmetrics);

#endif
