// Stopping the work of a request nobody waits for any more (its client hung up).
//
//   auto cancel = std::make_shared<Cancellation>();
//   pool.run(limit, fn, cancel.get());   // a request's queries register how to interrupt them
//   cancel->cancel();                    // from any thread: interrupts them, refuses later ones
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>

namespace sightline {

class Cancellation {
 public:
  // Runs the interrupt of every piece of work running under this cancellation; later work does
  // not start.
  void cancel();
  bool cancelled() const;

  // A piece of work starts: `interrupt` stops it (called at most once, from any thread, only
  // between enter() and leave()). Nothing registered, and nullopt, when already cancelled.
  std::optional<uint64_t> enter(std::function<void()> interrupt);
  void leave(uint64_t ticket);

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  uint64_t next_ = 1;
  std::map<uint64_t, std::function<void()>> running_;
};

}  // namespace sightline
