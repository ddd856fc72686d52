// Work repeated in the background at a fixed period, for samplers that must stay off request
// threads (e.g. DuckDB's memory for /metrics, whose query can wait behind the engine).
//
//   PeriodicTask sampler(std::chrono::seconds(5), [&] { engine.sample_memory(); });
//   // runs at once, then every 5 s, on its own thread; the destructor stops and joins it
//
// The task runs on one thread, never concurrently with itself. Stopping does not interrupt a run
// in progress: the destructor waits for it, then returns without waiting out the period.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace sightline {

class PeriodicTask {
 public:
  PeriodicTask(std::chrono::milliseconds period, std::function<void()> task);
  ~PeriodicTask();
  PeriodicTask(const PeriodicTask&) = delete;
  PeriodicTask& operator=(const PeriodicTask&) = delete;

 private:
  void loop();
  std::chrono::milliseconds period_;
  std::function<void()> task_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once everything it reads is initialised
};

}  // namespace sightline
