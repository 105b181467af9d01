// The relay thread's loop (engine.h): epoll events set each endpoint's readiness and service
// the session; then queued commands, due timers and the run queue; ended sessions are freed
// last, once no event of the batch can point at them.
#include "engine.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace pgr {

namespace {

constexpr int kMaxEvents = 256;
constexpr uint64_t kWakeTag = 0;  // epoll data of the eventfd; sessions are non-null pointers

int SocketError(int fd) {
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
  return err;
}

Reason ErrorReason(int side) { return side == kClient ? Reason::kClientError : Reason::kServerError; }

}  // namespace

Engine::Engine(const EngineOptions& options, Reporter reporter, void* context)
    : options_(options),
      reporter_(reporter),
      context_(context),
      mover_(options.strategy, options.bufferSize, options.table),
      // calloc: the pages of unused slots are never touched, so they cost no RSS.
      bySlot_(static_cast<Session**>(calloc(options.capacity, sizeof(Session*)))) {}

Engine::~Engine() {
  Stop(0);
  free(bySlot_);
}

int Engine::Start() {
  if (bySlot_ == nullptr) return ENOMEM;
  epoll_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_ < 0) return errno;
  wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_ < 0) return errno;
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev) < 0) return errno;
  // Signals stay with Node's threads: the relay thread starts with all of them blocked (a
  // SIGPIPE from splice() to a closed socket is then never delivered here either).
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  thread_ = std::thread([this] { Run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  running_ = true;
  return 0;
}

void Engine::Stop(uint16_t reason) {
  if (running_) {
    running_ = false;
    Post({Op::kStop, reason, 0, nullptr});
    thread_.join();
  }
  // Every fd goes now, not when the JS object is collected: close() must leave none behind.
  mover_.pipes.Clear();
  mover_.buffers.Clear();
  if (epoll_ >= 0) close(epoll_);
  if (wake_ >= 0) close(wake_);
  epoll_ = wake_ = -1;
}

Session* Engine::Lookup(double id) const {
  if (!(id >= 0)) return nullptr;
  uint32_t slot = static_cast<uint32_t>(std::fmod(id, options_.capacity));
  Session* s = bySlot_[slot];
  return s != nullptr && s->id == id && !s->ended ? s : nullptr;
}

void Engine::Run() {
  epoll_event events[kMaxEvents];
  now_ = NowMs();
  while (!stopping_) {
    int n = epoll_wait(epoll_, events, kMaxEvents, NextTimeout());
    if (n < 0 && errno != EINTR) abort();  // EBADF/EINVAL: the engine's own fd is broken
    wakeups_.fetch_add(1, std::memory_order_relaxed);
    now_ = NowMs();
    bool commands = false;
    for (int i = 0; i < n; ++i) {
      uint64_t data = events[i].data.u64;
      if (data == kWakeTag) {
        uint64_t count;
        ssize_t ignored = read(wake_, &count, sizeof(count));
        (void)ignored;
        commands = true;
        continue;
      }
      Session* s = reinterpret_cast<Session*>(data & ~uint64_t{1});
      if (s->ended) continue;
      int side = static_cast<int>(data & 1);
      Endpoint& e = s->end[side];
      uint32_t ev = events[i].events;
      if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) e.readable = true;
      if (ev & (EPOLLRDHUP | EPOLLHUP)) e.rdhup = true;
      if (ev & (EPOLLOUT | EPOLLHUP | EPOLLERR)) e.writable = true;
      if (ev & EPOLLERR) {
        // A reset: end now, even if this side has nothing left to read or be written.
        int err = SocketError(e.fd);
        if (err != 0) {
          End(s, ErrorReason(side), err);
          continue;
        }
      }
      Service(s);
    }
    if (commands) RunCommands();
    ExpireTimers();
    RunQueue();
    FreeEnded();
    timerCount_.store(timers_.size(), std::memory_order_relaxed);
  }
}

void Engine::Register(Session* s) {
  sessions_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(slotsLock_);
    bySlot_[s->slot] = s;
  }
  for (int side = 0; side < 2; ++side) {
    s->end[side].lastActive = now_;
    epoll_event ev{};
    // Edge-triggered, one registration for the session's life: no epoll_ctl per chunk or per
    // backpressure change; Endpoint remembers the readiness between edges.
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = reinterpret_cast<uint64_t>(s) | static_cast<uint64_t>(side);
    if (epoll_ctl(epoll_, EPOLL_CTL_ADD, s->end[side].fd, &ev) < 0) {
      End(s, ErrorReason(side), errno);
      return;
    }
  }
  uint32_t c = s->end[kClient].idleMs;
  uint32_t v = s->end[kServer].idleMs;
  if (c > 0 || v > 0) {
    uint32_t first = c == 0 ? v : v == 0 ? c : (c < v ? c : v);
    PushTimer(now_ + first, s->id);
  }
}

void Engine::Service(Session* s) {
  for (int dir = 0; dir < 2; ++dir) {
    Outcome o = mover_.Advance(*s, dir, now_);
    if (o.error) return End(s, ErrorReason(o.side), o.err);
    if (o.more) Enqueue(s);
  }
  // Both FINs passed on: each side said it is done and has been told the other is.
  if (s->flow[0].shut && s->flow[1].shut) {
    End(s, s->firstEof == kServer ? Reason::kServerClosed : Reason::kClientClosed, 0);
  }
}

void Engine::Enqueue(Session* s) {
  if (s->queued) return;
  s->queued = true;
  s->nextQueued = nullptr;
  if (queueTail_ != nullptr) {
    queueTail_->nextQueued = s;
  } else {
    queueHead_ = s;
  }
  queueTail_ = s;
}

void Engine::RunQueue() {
  // Only the sessions queued before this pass: one that runs out of budget again waits a turn.
  Session* s = queueHead_;
  queueHead_ = queueTail_ = nullptr;
  while (s != nullptr) {
    Session* next = s->nextQueued;
    s->queued = false;
    if (!s->ended) Service(s);
    s = next;
  }
}

void Engine::End(Session* s, Reason reason, int err) {
  if (s->ended) return;
  s->ended = true;
  sessions_.fetch_sub(1, std::memory_order_relaxed);
  if (s->end[kClient].idleMs > 0 || s->end[kServer].idleMs > 0) staleTimers_++;
  {
    std::lock_guard<std::mutex> lock(slotsLock_);
    if (bySlot_[s->slot] == s) bySlot_[s->slot] = nullptr;
  }
  for (int side = 0; side < 2; ++side) {
    // DEL before close: a registration outlives close() while any other fd shares the socket.
    epoll_ctl(epoll_, EPOLL_CTL_DEL, s->end[side].fd, nullptr);
    close(s->end[side].fd);
    s->end[side].fd = -1;
  }
  mover_.Release(s->flow[0]);
  mover_.Release(s->flow[1]);
  reporter_(context_, new EndReport{s->id, s->slot, reason, err, s->killReason, s->flow[0].bytes, s->flow[1].bytes});
  ended_.push_back(s);
}

void Engine::EndAll(uint16_t reason) {
  for (uint32_t slot = 0; slot < options_.capacity; ++slot) {
    Session* s = bySlot_[slot];
    if (s == nullptr || s->ended) continue;
    s->killReason = reason;
    End(s, Reason::kKilled, 0);
  }
}

void Engine::FreeEnded() {
  // Freed after the whole batch: a later event of the same epoll_wait may point at it.
  size_t kept = 0;
  for (Session* s : ended_) {
    if (s->queued) {
      ended_[kept++] = s;  // still linked in the run queue; freed once it is popped
    } else {
      delete s;
    }
  }
  ended_.resize(kept);
}

}  // namespace pgr
