/*
 * heap_cxx - C++ allocations whose caller is known: operator new and new[]
 * called directly, and std::vector growing. Everything stays live, so with
 * --heap-rate 1 the in-use values per function are exact:
 *   new_nodes    10000 x new Node (200 bytes), then half deleted: 1000000
 *   new_arrays   1000 x new int[250]: 1000000 bytes
 *   grow_vector  a vector of 1M ints grown by push_back: 4 MiB in use at the
 *                end (its last buffer), 8 MiB - 4 bytes allocated in all.
 */
#include <cstdio>
#include <vector>

struct Node {
    char payload[200];
};

static Node *nodes[10000];
static int *arrays[1000];
static std::vector<int> *kept;

__attribute__((noinline)) void new_nodes()
{
    for (int i = 0; i < 10000; i++) nodes[i] = new Node();
    for (int i = 0; i < 10000; i += 2) delete nodes[i];
}

__attribute__((noinline)) void new_arrays()
{
    for (int i = 0; i < 1000; i++) arrays[i] = new int[250]();
}

__attribute__((noinline)) void grow_vector(std::vector<int> &v)
{
    for (int i = 0; i < (1 << 20); i++) v.push_back(i);
}

int main()
{
    new_nodes();
    new_arrays();
    kept = new std::vector<int>;
    grow_vector(*kept);
    long sum = 0;
    for (int i = 0; i < 1000; i++) sum += arrays[i][i % 250];
    for (int i = 1; i < 10000; i += 2) sum += nodes[i]->payload[0];
    std::printf("kept %zu ints, sum %ld\n", kept->size(), sum);
    return 0;
}
