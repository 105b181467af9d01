// The relay thread's idle timers (engine.h): lazy, one heap entry per session with a timeout.
// Activity only stamps Endpoint::lastActive; an entry that comes due recomputes the session's
// real deadline and either ends it (client_idle / server_idle) or goes back in for the rest.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <functional>

#include "engine.h"

namespace pgr {

int64_t Engine::NowMs() {
  timespec ts;
  // Coarse: a few ms of resolution is plenty for idle timeouts, and it is the cheapest clock.
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

int Engine::NextTimeout() const {
  if (queueHead_ != nullptr) return 0;
  if (timers_.empty()) return -1;
  int64_t wait = timers_.front().deadline - NowMs();
  if (wait <= 0) return 0;
  return wait > 60000 ? 60000 : static_cast<int>(wait) + 1;
}

void Engine::PushTimer(int64_t deadline, double id) {
  timers_.push_back({deadline, id});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
}

void Engine::DropStaleTimers() {
  // Ended sessions leave their entry behind (a 30-minute timeout would keep it 30 minutes):
  // once they are most of the heap, rebuild it from the live ones. Amortised O(1) per end;
  // at most max(1023, live sessions) stale entries.
  if (sessions_.load(std::memory_order_relaxed) == 0) {
    timers_.clear();
    staleTimers_ = 0;
    return;
  }
  if (staleTimers_ < 1024 || staleTimers_ * 2 < timers_.size()) return;
  timers_.erase(std::remove_if(timers_.begin(), timers_.end(), [this](const Timer& t) { return Lookup(t.id) == nullptr; }),
                timers_.end());
  std::make_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
  staleTimers_ = 0;
}

void Engine::ExpireTimers() {
  DropStaleTimers();
  while (!timers_.empty() && timers_.front().deadline <= now_) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<Timer>());
    Timer t = timers_.back();
    timers_.pop_back();
    Session* s = Lookup(t.id);
    if (s == nullptr) {
      if (staleTimers_ > 0) staleTimers_--;
      continue;
    }
    // Lazy timers: activity only stamps lastActive; the deadline is recomputed here.
    int64_t next = INT64_MAX;
    int expired = -1;
    for (int side = 0; side < 2; ++side) {
      const Endpoint& e = s->end[side];
      if (e.idleMs == 0) continue;
      int64_t deadline = e.lastActive + e.idleMs;
      if (deadline <= now_ && (expired < 0 || deadline < s->end[expired].lastActive + s->end[expired].idleMs)) {
        expired = side;
      }
      if (deadline < next) next = deadline;
    }
    if (expired >= 0) {
      End(s, expired == kClient ? Reason::kClientIdle : Reason::kServerIdle, 0);
      staleTimers_--;  // End() counted its entry, which is already popped
    } else {
      PushTimer(next, t.id);
    }
  }
}

}  // namespace pgr
