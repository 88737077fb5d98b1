/*
 * lock_cxx - std::mutex and std::condition_variable under contention.
 *   hold_cpp      holds a std::mutex for 500 us at a time (asleep), 400 times
 *   take_cpp      takes and drops it in a tight loop meanwhile
 *   consume_cpp   waits on a std::condition_variable for 200 items that
 *                 produce_cpp makes one every 200 us; counts its waits
 *   read_shared   takes a std::shared_mutex shared in a tight loop while
 *                 write_shared holds it exclusively for 300 us, 200 times
 * Prints "consumer_waits N", and for take_cpp and read_shared what they
 * measured themselves: the time of the lock calls in which they slept
 * (_wait_ns) and how many (_slept).
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include <sys/resource.h>

static std::mutex mu;
static std::mutex qmu;
static std::condition_variable qcv;
static std::deque<int> items;
static long consumer_waits;

static void spin(std::chrono::microseconds d)
{
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
    }
}

/* What a waiting thread measured itself: the time of its lock calls in
 * which it slept (its voluntary context switches rose; a call that was only
 * preempted on a busy machine is no wait). */
static long voluntary_switches()
{
    struct rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return ru.ru_nvcsw;
}

struct own_clock {
    long long ns = 0;
    long slept = 0;
    long v0 = 0;
    std::chrono::steady_clock::time_point t0;
    void begin()
    {
        v0 = voluntary_switches();
        t0 = std::chrono::steady_clock::now();
    }
    void end()
    {
        long long d =
            std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
        if (voluntary_switches() != v0) {
            ns += d;
            slept++;
        }
    }
};

/* hold_cpp takes mu 400 times for 500 us (asleep, so that take_cpp runs
 * and waits even on a busy machine), 100 us apart; take_cpp takes
 * and drops it in a tight loop meanwhile. */
static std::atomic<bool> done{false};

__attribute__((noinline)) void hold_cpp()
{
    for (int i = 0; i < 400; i++) {
        {
            std::lock_guard<std::mutex> g(mu);
            std::this_thread::sleep_for(std::chrono::microseconds(500)); /* the taker gets a CPU */
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    done.store(true);
}

static own_clock take_own;

__attribute__((noinline)) void take_cpp()
{
    while (!done.load(std::memory_order_relaxed)) {
        std::unique_lock<std::mutex> g(mu, std::defer_lock);
        take_own.begin();
        g.lock(); /* called from take_cpp itself: its stack is the wait's */
        take_own.end();
    }
}

/* std::shared_mutex, the same way: write_shared holds it exclusively 200
 * times for 300 us (asleep), read_shared takes it shared in a tight loop. */
static std::shared_mutex smu;
static std::atomic<bool> sdone{false};

__attribute__((noinline)) void write_shared()
{
    for (int i = 0; i < 200; i++) {
        {
            std::unique_lock<std::shared_mutex> g(smu);
            std::this_thread::sleep_for(std::chrono::microseconds(300));
        }
        std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    sdone.store(true);
}

static own_clock read_own;

__attribute__((noinline)) void read_shared()
{
    while (!sdone.load(std::memory_order_relaxed)) {
        std::shared_lock<std::shared_mutex> g(smu, std::defer_lock);
        read_own.begin();
        g.lock();
        read_own.end();
    }
}

__attribute__((noinline)) void produce_cpp()
{
    for (int i = 0; i < 200; i++) {
        spin(std::chrono::microseconds(200));
        std::lock_guard<std::mutex> g(qmu);
        items.push_back(i);
        qcv.notify_one();
    }
}

__attribute__((noinline)) void consume_cpp()
{
    for (int got = 0; got < 200;) {
        std::unique_lock<std::mutex> l(qmu);
        while (items.empty()) {
            consumer_waits++;
            qcv.wait(l);
        }
        items.pop_front();
        got++;
    }
}

int main()
{
    std::thread h(hold_cpp);
    std::thread t(take_cpp);
    std::thread c(consume_cpp);
    std::thread p(produce_cpp);
    h.join();
    t.join();
    c.join();
    p.join();
    std::thread w(write_shared);
    std::thread r(read_shared);
    w.join();
    r.join();
    std::printf("consumer_waits %ld\ntake_cpp_wait_ns %lld\ntake_cpp_slept %ld\nread_shared_wait_ns %lld\n"
                "read_shared_slept %ld\n",
                consumer_waits, take_own.ns, take_own.slept, read_own.ns, read_own.slept);
    return 0;
}
