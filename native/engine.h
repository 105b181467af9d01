// The relay thread: one epoll loop (edge-triggered) over every session's two sockets, a command
// queue from the main thread (add, kill, kill all, stop) woken by an eventfd, and the idle
// timers as a min-heap whose earliest deadline is epoll_wait's timeout. It knows nothing of
// JavaScript: the addon (addon.cc) builds sessions and receives each end through `Reporter`.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "mover.h"
#include "session.h"

namespace pgr {

struct EndReport {
  double id;
  uint32_t slot;
  Reason reason;
  int err;
  uint16_t killReason;
  uint64_t bytesIn;   // client → server
  uint64_t bytesOut;  // server → client
};

struct EngineOptions {
  Strategy strategy = Strategy::kAuto;
  uint32_t bufferSize = 16384;
  uint32_t capacity = 65536;  // session slots
  double* table = nullptr;    // capacity * 3 doubles, shared with JS
};

struct SocketInfo {
  int fd;
  int keepalive;
  int keepIdle;
  int noDelay;
};

struct EngineStats {
  int64_t sessions;
  int64_t pendingBytes;
  int64_t buffersInUse;
  int64_t pipesInUse;
  uint64_t wakeups;  // epoll_wait returns
  uint64_t timers;   // idle-timer heap entries, stale ones included
  uint32_t pipeCapacity;  // splice: the most one flow holds (0 with the copy strategy)
};

// Called on the relay thread, once per session; takes ownership of the report.
using Reporter = void (*)(void* context, EndReport* report);

class Engine {
 public:
  Engine(const EngineOptions& options, Reporter reporter, void* context);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // 0, or the errno that kept the thread from starting.
  int Start();
  // Main thread. The session and its fds are the engine's from here on: the thread may end and
  // free it before Add() returns (its peers closed already, or this thread was descheduled).
  void Add(Session* s);
  void Kill(double id, uint16_t reason);
  void KillAll(uint16_t reason);
  // Ends every session (reported as killed with `reason`), stops and joins the thread.
  void Stop(uint16_t reason);
  EngineStats Stats();
  // Main thread; false when the session is unknown to the thread (not added yet, or ended).
  bool Inspect(double id, SocketInfo out[2]);

 private:
  enum class Op : uint8_t { kAdd, kKill, kKillAll, kStop };
  struct Command {
    Op op;
    uint16_t reason;
    double id;
    Session* session;
  };
  struct Timer {
    int64_t deadline;
    double id;
    bool operator>(const Timer& other) const { return deadline > other.deadline; }
  };

  void Post(const Command& c);
  void Run();
  void RunCommands();
  void Register(Session* s);
  void Service(Session* s);
  void Enqueue(Session* s);
  void RunQueue();
  static int64_t NowMs();
  void ExpireTimers();
  void PushTimer(int64_t deadline, double id);
  void DropStaleTimers();
  int NextTimeout() const;
  void End(Session* s, Reason reason, int err);
  void EndAll(uint16_t reason);
  void FreeEnded();
  Session* Lookup(double id) const;

  EngineOptions options_;
  Reporter reporter_;
  void* context_;
  Mover mover_;
  int epoll_ = -1;
  int wake_ = -1;
  std::thread thread_;
  bool running_ = false;

  std::mutex commandsLock_;
  std::vector<Command> commands_;
  std::vector<Command> draining_;

  // Relay thread only, except `bySlot_` reads in Inspect (under slotsLock_).
  mutable std::mutex slotsLock_;
  Session** bySlot_;
  // A min-heap (std::greater) with one entry per live session that has a timeout, plus the
  // entries of ended sessions until DropStaleTimers() sweeps them (staleTimers_ counts them).
  std::vector<Timer> timers_;
  size_t staleTimers_ = 0;
  Session* queueHead_ = nullptr;
  Session* queueTail_ = nullptr;
  std::vector<Session*> ended_;
  int64_t now_ = 0;
  bool stopping_ = false;

  std::atomic<int64_t> sessions_{0};
  std::atomic<uint64_t> wakeups_{0};
  std::atomic<uint64_t> timerCount_{0};
};

}  // namespace pgr
