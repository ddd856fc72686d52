#include "server/admission.h"

#include <algorithm>

namespace sightline::server {

const char* shed_reason_name(ShedReason r) {
  switch (r) {
    case ShedReason::QueueFull:
      return "queue_full";
    case ShedReason::QueueTimeout:
      return "queue_timeout";
    case ShedReason::ShuttingDown:
      return "shutting_down";
    case ShedReason::LowMemory:
      return "memory";
  }
  return "unknown";
}

AdmissionQueue::AdmissionQueue(AdmissionOptions options) : options_(std::move(options)) {
  if (!options_.start_threads) return;
  for (int i = 0; i < std::max(1, options_.workers); ++i) threads_.emplace_back([this] { work(); });
  threads_.emplace_back([this] { reap(); });
}

AdmissionQueue::~AdmissionQueue() { stop(); }

bool AdmissionQueue::submit(Run run, Shed shed) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.max_queued) return false;
    queue_.push_back({std::move(run), std::move(shed), options_.clock() + options_.timeout});
  }
  work_cv_.notify_one();
  reap_cv_.notify_one();
  return true;
}

size_t AdmissionQueue::shed_expired() {
  std::vector<Shed> expired;
  {
    std::lock_guard lock(mutex_);
    auto now = options_.clock();
    // Deadlines grow along the queue (one timeout, FIFO): the expired ones are at its front.
    while (!queue_.empty() && queue_.front().deadline <= now) {
      expired.push_back(std::move(queue_.front().shed));
      queue_.pop_front();
    }
  }
  for (auto& shed : expired) shed(ShedReason::QueueTimeout);
  return expired.size();
}

bool AdmissionQueue::run_one() {
  Run run;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) return false;
    run = std::move(queue_.front().run);
    queue_.pop_front();
    ++running_;
  }
  run();
  std::lock_guard lock(mutex_);
  --running_;
  return true;
}

void AdmissionQueue::work() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
    }
    run_one();
  }
}

void AdmissionQueue::reap() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Wake at the oldest deadline, and at least every 50 ms (the clock may not be the wall's).
    auto wait = std::chrono::milliseconds(50);
    if (!queue_.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(queue_.front().deadline - options_.clock());
      wait = std::clamp(left, std::chrono::milliseconds(1), wait);
    }
    reap_cv_.wait_for(lock, wait);
    if (stopping_) break;
    lock.unlock();
    shed_expired();
    lock.lock();
  }
}

void AdmissionQueue::stop() {
  std::deque<Pending> left;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    left.swap(queue_);
  }
  work_cv_.notify_all();
  reap_cv_.notify_all();
  for (auto& p : left) p.shed(ShedReason::ShuttingDown);
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

size_t AdmissionQueue::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

int AdmissionQueue::running() const {
  std::lock_guard lock(mutex_);
  return running_;
}

}  // namespace sightline::server
