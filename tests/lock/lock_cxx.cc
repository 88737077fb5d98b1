/*
 * lock_cxx - std::mutex and std::condition_variable under contention.
 *   hold_cpp      holds a std::mutex for 500 us at a time, 400 times
 *   take_cpp      asks for it each time it is held, and waits
 *   consume_cpp   waits on a std::condition_variable for 200 items that
 *                 produce_cpp makes one every 200 us; counts its waits
 *   read_shared   asks 200 times for a std::shared_mutex that write_shared
 *                 holds exclusively for 300 us at a time (it waits)
 * Prints "consumer_waits N", "read_shared_found_held N" and
 * "take_cpp_wait_ns N" (what it measured itself).
 */
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <shared_mutex>
#include <thread>

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

/* Strict turns so that every round contends: hold_cpp takes the lock and
 * says so, take_cpp then asks for it and waits until hold_cpp lets go. */
static std::atomic<int> phase{0};

__attribute__((noinline)) void hold_cpp()
{
    for (int i = 0; i < 400; i++) {
        while (phase.load() != 0) {
        }
        {
            std::lock_guard<std::mutex> g(mu);
            phase.store(1);
            spin(std::chrono::microseconds(500));
        }
        while (phase.load() != 2) {
        }
        phase.store(0);
    }
}

/* What take_cpp measured itself: the time its lock_guard took to get mu. */
static long long take_wait_ns;

__attribute__((noinline)) void take_cpp()
{
    for (int i = 0; i < 400; i++) {
        while (phase.load() != 1) {
        }
        {
            auto t0 = std::chrono::steady_clock::now();
            std::lock_guard<std::mutex> g(mu);
            take_wait_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(
                                std::chrono::steady_clock::now() - t0)
                                .count();
        }
        phase.store(2);
    }
}

/* std::shared_mutex, the same turns: write_shared holds it exclusively,
 * read_shared asks for it shared and waits. */
static std::shared_mutex smu;
static std::atomic<int> sphase{0};
/* Measured: raised while write_shared holds smu; read_shared counts the
 * rounds in which it found it raised as it asked (a reader descheduled
 * past the release waits for nothing). */
static std::atomic<int> sheld{0};
static long found_held;

__attribute__((noinline)) void write_shared()
{
    for (int i = 0; i < 200; i++) {
        while (sphase.load() != 0) {
        }
        {
            std::unique_lock<std::shared_mutex> g(smu);
            sheld.store(1);
            sphase.store(1);
            spin(std::chrono::microseconds(300));
            sheld.store(0);
        }
        while (sphase.load() != 2) {
        }
        sphase.store(0);
    }
}

__attribute__((noinline)) void read_shared()
{
    for (int i = 0; i < 200; i++) {
        while (sphase.load() != 1) {
        }
        found_held += sheld.load();
        {
            std::shared_lock<std::shared_mutex> g(smu);
        }
        sphase.store(2);
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
    std::printf("consumer_waits %ld\nread_shared_found_held %ld\ntake_cpp_wait_ns %lld\n", consumer_waits,
                found_held, take_wait_ns);
    return 0;
}
