/*
 * debug_frame_lib.c - built into a library with no .eh_frame (and no
 * .eh_frame_hdr) and no frame pointers: only -g's .debug_frame describes
 * its frames, which the hybrid unwinder reads from the file.
 */
__attribute__((noinline)) double df_leaf(int n)
{
    double s = 0;
    for (int i = 0; i < n; i++) s += i * 0.5;
    return s;
}

__attribute__((noinline)) double df_middle(int n)
{
    return df_leaf(n) + 1;
}
