//===- CpuThreadPool.cpp --------------------------------------------------===//
#include "sieve/runtime/CpuThreadPool.h"

#include <chrono>
#include <cstdlib>
#include <string>

namespace sieve::runtime {

CpuThreadPool::CpuThreadPool(int threads) {
  for (int t = 1; t < threads; ++t)
    workers_.emplace_back([this] { workerLoop(); });
}

CpuThreadPool::~CpuThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread &w : workers_)
    w.join();
}

int CpuThreadPool::defaultThreads() {
  if (const char *env = std::getenv("SIEVE_CPU_THREADS")) {
    char *end = nullptr;
    long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 4096)
      return static_cast<int>(n);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

namespace {
std::mutex sharedMutex;
std::shared_ptr<CpuThreadPool> &sharedPool() {
  static std::shared_ptr<CpuThreadPool> pool;
  return pool;
}
} // namespace

std::shared_ptr<CpuThreadPool> CpuThreadPool::shared() {
  std::lock_guard<std::mutex> lock(sharedMutex);
  if (!sharedPool())
    sharedPool() = std::make_shared<CpuThreadPool>(defaultThreads());
  return sharedPool();
}

void CpuThreadPool::setShared(int threads) {
  auto pool = std::make_shared<CpuThreadPool>(threads > 0 ? threads : defaultThreads());
  std::lock_guard<std::mutex> lock(sharedMutex);
  sharedPool() = std::move(pool);
}

void CpuThreadPool::drain(const std::function<void(int64_t)> &work, int64_t n,
                          std::atomic<int64_t> &next) {
  for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
       i = next.fetch_add(1, std::memory_order_relaxed))
    work(i);
}

void CpuThreadPool::waitBriefly(uint64_t seen) const {
  // The phases of one run, and the runs of a model's layers, follow each
  // other within microseconds, while waking a thread blocked on a futex
  // takes tens of them: by then the caller has taken a short phase's units
  // itself. So a worker first watches for the next job for a while.
  constexpr auto kSpin = std::chrono::microseconds(200);
  const auto until = std::chrono::steady_clock::now() + kSpin;
  for (int i = 1;; ++i) {
    if (generation_.load(std::memory_order_acquire) != seen ||
        stop_.load(std::memory_order_relaxed))
      return;
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= until)
      return;
    std::this_thread::yield();
  }
}

void CpuThreadPool::workerLoop() {
  uint64_t seen = 0;
  for (;;) {
    waitBriefly(seen);
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_)
      return;
    seen = generation_;
    // A job the caller already finished and withdrew is not joined.
    if (!job_)
      continue;
    const std::function<void(int64_t)> *job = job_;
    const int64_t n = jobSize_;
    ++active_;
    lock.unlock();
    drain(*job, n, next_);
    lock.lock();
    if (--active_ == 0)
      idle_.notify_all();
  }
}

void CpuThreadPool::parallelFor(int64_t n, const std::function<void(int64_t)> &work) {
  if (n <= 0)
    return;
  std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
  if (workers_.empty() || n == 1 || !busy.owns_lock()) {
    for (int64_t i = 0; i < n; ++i)
      work(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &work;
    jobSize_ = n;
    next_.store(0, std::memory_order_relaxed);
    ++generation_;
  }
  wake_.notify_all();
  drain(work, n, next_);
  // Every unit is taken; wait for those still running, then withdraw the
  // job so a worker waking only now does not touch it.
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [&] { return active_ == 0; });
  job_ = nullptr;
}

} // namespace sieve::runtime
