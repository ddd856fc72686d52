// The admission queue in front of the engine: heavy requests (those that run queries) wait here
// for one of a fixed number of workers. The queue is bounded in length and in time, so that under
// overload a client gets a quick 503 instead of a long wait:
//
//   AdmissionQueue queue({.workers = 4, .max_queued = 64, .timeout = 1s});
//   if (!queue.submit(run, shed)) shed(ShedReason::QueueFull);   // full: shed at once
//
// `run` is called on a worker thread; `shed` is called instead when the request waited longer
// than the timeout (from the reaper thread, without waiting for a worker) or when the queue
// stops. Exactly one of them is called for every accepted submission.
//
// Thread-safe. The clock is injected: shed_expired() sheds by it (tests call it directly with a
// fake clock; the reaper thread calls it on its own).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sightline::server {

enum class ShedReason { QueueFull, QueueTimeout, ShuttingDown, LowMemory };
const char* shed_reason_name(ShedReason r);

struct AdmissionOptions {
  int workers = 4;
  size_t max_queued = 64;
  std::chrono::milliseconds timeout{1000};
  std::function<std::chrono::steady_clock::time_point()> clock = [] { return std::chrono::steady_clock::now(); };
  // Start worker and reaper threads (false in tests that drive run_one()/shed_expired()).
  bool start_threads = true;
};

class AdmissionQueue {
 public:
  using Run = std::function<void()>;
  using Shed = std::function<void(ShedReason)>;

  explicit AdmissionQueue(AdmissionOptions options);
  ~AdmissionQueue();  // stop()
  AdmissionQueue(const AdmissionQueue&) = delete;
  AdmissionQueue& operator=(const AdmissionQueue&) = delete;

  // Queues a request; false (and nothing called) when the queue is full or stopped.
  bool submit(Run run, Shed shed);
  // Sheds (QueueTimeout) every request that waited longer than the timeout; returns how many.
  size_t shed_expired();
  // Takes the oldest request and runs it on the calling thread; false when none is queued.
  bool run_one();
  // Sheds what is queued (ShuttingDown), lets running requests finish, joins the threads.
  void stop();

  size_t queued() const;
  int running() const;

 private:
  struct Pending {
    Run run;
    Shed shed;
    std::chrono::steady_clock::time_point deadline;
  };
  void work();
  void reap();

  AdmissionOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable reap_cv_;
  std::deque<Pending> queue_;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace sightline::server
