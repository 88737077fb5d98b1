# Signal-blocking threads: profiled, and the program's own signal handling unchanged.
