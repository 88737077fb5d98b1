/*
 * dlib.c - a library that symbolize/target.c loads with dlopen.
 */
__attribute__((noinline)) double dl_work(long n)
{
    volatile double x = 1.0;
    for (long i = 0; i < n; i++) /* DL_BEGIN */
        x = x * 1.0000001 + 1e-9;
    return x; /* DL_END */
}
