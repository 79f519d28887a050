//===- CpuThreadPool.h - the CPU backend's worker threads -------*- C++ -*-===//
//
// The CPU kernels are phases of independent work units (an artifact's host
// launches); a pool of threads runs each phase's units, the caller's thread
// working with them. Units are handed out in order (the lowering puts the
// longest first) one at a time, so a thread that finishes early takes the
// next. Which thread runs a unit never changes a result: units of a phase
// write disjoint outputs and read none of each other's.
//
//===----------------------------------------------------------------------===//
#ifndef SIEVE_RUNTIME_CPUTHREADPOOL_H
#define SIEVE_RUNTIME_CPUTHREADPOOL_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sieve::runtime {

class CpuThreadPool {
public:
  /// `threads` workers in all, the caller's counted: threads - 1 are started.
  explicit CpuThreadPool(int threads);
  ~CpuThreadPool();
  CpuThreadPool(const CpuThreadPool &) = delete;
  CpuThreadPool &operator=(const CpuThreadPool &) = delete;

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs work(i) once for every i in [0, n), taken in increasing order by
  /// the caller and the pool's threads; returns when all have run. While
  /// another call has the pool, this one runs alone on its caller's thread.
  void parallelFor(int64_t n, const std::function<void(int64_t)> &work);

  /// The thread count the CPU backend starts with: SIEVE_CPU_THREADS when
  /// it holds a positive number, else the machine's hardware threads.
  static int defaultThreads();
  /// The process's pool, of defaultThreads() threads unless set, which
  /// every CPU executor uses unless given its own (made on first use).
  static std::shared_ptr<CpuThreadPool> shared();
  /// Makes the process's pool one of `threads` threads (0: the default);
  /// runs in progress finish on the pool they have.
  static void setShared(int threads);

private:
  void workerLoop();
  /// Returns once a job newer than `seen` is posted, the pool stops, or a
  /// short while has passed.
  void waitBriefly(uint64_t seen) const;
  static void drain(const std::function<void(int64_t)> &work, int64_t n,
                    std::atomic<int64_t> &next);

  std::vector<std::thread> workers_;
  std::mutex busy_; // held by the call that has the pool
  std::mutex mutex_;
  std::condition_variable wake_, idle_;
  const std::function<void(int64_t)> *job_ = nullptr;
  int64_t jobSize_ = 0;
  std::atomic<int64_t> next_{0};
  // Written under mutex_; read without it too while a worker spins.
  std::atomic<uint64_t> generation_{0};
  int active_ = 0;
  std::atomic<bool> stop_{false};
};

} // namespace sieve::runtime

#endif
