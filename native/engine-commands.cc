// The relay engine's command side (engine.h): what the main thread calls (add, kill, kill all,
// stats, inspect) and how the relay thread takes the queued commands in. One mutex, taken
// once per command and once per batch on the thread; the eventfd is written only when the
// queue was empty, as the thread drains it whole.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>

#include "engine.h"

namespace pgr {

namespace {

int IntOption(int fd, int level, int name) {
  int value = -1;
  socklen_t len = sizeof(value);
  if (getsockopt(fd, level, name, &value, &len) < 0) return -1;
  return value;
}

}  // namespace

void Engine::Post(const Command& c) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(commandsLock_);
    // The thread empties the queue in one go: only the first command of a batch must wake it.
    wake = commands_.empty();
    commands_.push_back(c);
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_, &one, sizeof(one));
    (void)ignored;  // EAGAIN: the counter is already non-zero, the thread wakes anyway
  }
}

void Engine::Add(Session* s) { Post({Op::kAdd, 0, s->id, s}); }
void Engine::Kill(double id, uint16_t reason) { Post({Op::kKill, reason, id, nullptr}); }
void Engine::KillAll(uint16_t reason) { Post({Op::kKillAll, reason, 0, nullptr}); }

EngineStats Engine::Stats() {
  EngineStats s;
  s.sessions = sessions_.load(std::memory_order_relaxed);
  s.pendingBytes = mover_.pendingBytes.load(std::memory_order_relaxed);
  s.buffersInUse = mover_.buffers.inUse.load(std::memory_order_relaxed);
  s.pipesInUse = mover_.pipes.inUse.load(std::memory_order_relaxed);
  s.wakeups = wakeups_.load(std::memory_order_relaxed);
  s.timers = timerCount_.load(std::memory_order_relaxed);
  s.pipeCapacity = mover_.usesPipes() ? mover_.pipes.capacity() : 0;
  return s;
}

bool Engine::Inspect(double id, SocketInfo out[2]) {
  std::lock_guard<std::mutex> lock(slotsLock_);
  // The thread clears the slot under this lock before it closes the fds: they stay open here.
  Session* s = id >= 0 ? bySlot_[static_cast<uint32_t>(std::fmod(id, options_.capacity))] : nullptr;
  if (s == nullptr || s->id != id) return false;
  for (int side = 0; side < 2; ++side) {
    int fd = s->end[side].fd;
    out[side] = {fd, IntOption(fd, SOL_SOCKET, SO_KEEPALIVE), IntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE),
                 IntOption(fd, IPPROTO_TCP, TCP_NODELAY)};
  }
  return true;
}

void Engine::RunCommands() {
  {
    std::lock_guard<std::mutex> lock(commandsLock_);
    draining_.swap(commands_);
  }
  for (const Command& c : draining_) {
    switch (c.op) {
      case Op::kAdd:
        Register(c.session);
        break;
      case Op::kKill: {
        Session* s = Lookup(c.id);
        if (s != nullptr) {
          s->killReason = c.reason;
          End(s, Reason::kKilled, 0);
        }
        break;
      }
      case Op::kKillAll:
        EndAll(c.reason);
        break;
      case Op::kStop:
        EndAll(c.reason);
        stopping_ = true;
        break;
    }
  }
  draining_.clear();
}

}  // namespace pgr
