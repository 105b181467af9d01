#include "mover.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace pgr {

namespace {

constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// Bytes one flow may move per wake before the other sessions get their turn.
constexpr uint64_t kBudgetBytes = 256 * 1024;

bool WouldBlock(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

Outcome Fail(int side, int err) {
  Outcome o;
  o.error = true;
  o.side = static_cast<uint8_t>(side);
  o.err = err;
  return o;
}

}  // namespace

Mover::Mover(Strategy strategy, uint32_t bufferSize, double* table)
    : buffers(bufferSize), strategy_(strategy), scratch_(static_cast<char*>(malloc(bufferSize))), table_(table) {}

Mover::~Mover() { free(scratch_); }

Outcome Mover::Advance(Session& s, int dir, int64_t now) {
  Flow& f = s.flow[dir];
  Endpoint& src = s.end[dir];
  Endpoint& dst = s.end[1 - dir];
  uint64_t moved = 0;
  for (;;) {
    if (f.pending()) {
      if (!dst.writable) return {};
      uint64_t before = f.bytes;
      Outcome o = Flush(s, dir, now);
      if (o.error) return o;
      moved += f.bytes - before;
      if (f.pending()) return {};
    }
    if (f.eof) {
      // Half-close: the source's FIN goes on once its last byte is written.
      if (!f.shut) {
        f.shut = true;
        if (shutdown(dst.fd, SHUT_WR) < 0 && errno != ENOTCONN) return Fail(1 - dir, errno);
      }
      return {};
    }
    if (!src.readable) return {};
    if (moved >= kBudgetBytes) {
      Outcome o;
      o.more = true;
      return o;
    }
    uint64_t before = f.bytes;
    Outcome o = Read(s, dir, now);
    if (o.error) return o;
    moved += f.bytes - before + 1;  // +1: a read that moved nothing still costs
  }
}

Outcome Mover::Read(Session& s, int dir, int64_t now) {
  switch (strategy_) {
    case Strategy::kCopy:
      return ReadCopy(s, dir, now);
    case Strategy::kSplice:
      return ReadSplice(s, dir, now);
    case Strategy::kAuto:
      break;
  }
  return s.flow[dir].streaming ? ReadSplice(s, dir, now) : ReadCopy(s, dir, now);
}

Outcome Mover::ReadCopy(Session& s, int dir, int64_t now) {
  Flow& f = s.flow[dir];
  Endpoint& src = s.end[dir];
  Endpoint& dst = s.end[1 - dir];
  uint32_t size = buffers.size();
  ssize_t n = recv(src.fd, scratch_, size, 0);
  if (n < 0) {
    if (WouldBlock(errno)) {
      src.readable = false;
      return {};
    }
    if (errno == EINTR) return {};
    return Fail(dir, errno);
  }
  if (n == 0) {
    f.eof = true;
    src.readable = false;
    if (s.firstEof < 0) s.firstEof = static_cast<int8_t>(dir);
    return {};
  }
  src.lastActive = now;
  // epoll(7): on a stream socket a short read means the socket is drained; the next byte
  // brings a new edge. After a FIN (rdhup) read on until the EOF itself.
  if (static_cast<uint32_t>(n) < size) {
    if (!src.rdhup) src.readable = false;
  } else if (strategy_ == Strategy::kAuto) {
    f.streaming = true;  // a full buffer: more is coming, splice it
  }
  ssize_t w = 0;
  if (dst.writable) {
    w = send(dst.fd, scratch_, static_cast<size_t>(n), MSG_NOSIGNAL);
    if (w < 0) {
      if (!WouldBlock(errno) && errno != EINTR) return Fail(1 - dir, errno);
      w = 0;
    }
  }
  if (w > 0) Wrote(s, dir, static_cast<uint64_t>(w), now);
  if (w < n) {
    // The destination is full: keep the rest and stop reading the source until it drains.
    dst.writable = false;
    f.buf = buffers.Take();
    if (f.buf == nullptr) return Fail(dir, ENOMEM);
    f.off = 0;
    f.len = static_cast<uint32_t>(n - w);
    memcpy(f.buf, scratch_ + w, f.len);
    pendingBytes.fetch_add(f.len, std::memory_order_relaxed);
  }
  return {};
}

Outcome Mover::ReadSplice(Session& s, int dir, int64_t now) {
  Flow& f = s.flow[dir];
  Endpoint& src = s.end[dir];
  int err = pipes.Take(&f.pipeRead, &f.pipeWrite);
  if (err != 0) return Fail(dir, err);
  ssize_t n = ::splice(src.fd, nullptr, f.pipeWrite, nullptr, pipes.capacity(), kSpliceFlags);
  if (n <= 0) {
    int readErr = errno;
    pipes.Give(f.pipeRead, f.pipeWrite, true);
    f.pipeRead = f.pipeWrite = -1;
    if (n == 0) {
      f.eof = true;
      src.readable = false;
      if (s.firstEof < 0) s.firstEof = static_cast<int8_t>(dir);
      return {};
    }
    if (WouldBlock(readErr)) {
      src.readable = false;
      f.streaming = false;  // the burst is over: back to copy (auto)
      return {};
    }
    if (readErr == EINTR) return {};
    return Fail(dir, readErr);
  }
  // No short-read shortcut here: a splice also stops when the pipe runs out of slots (one per
  // socket buffer), so only EAGAIN says the socket is drained.
  src.lastActive = now;
  f.inPipe = static_cast<uint32_t>(n);
  pendingBytes.fetch_add(f.inPipe, std::memory_order_relaxed);
  // Advance flushes the pipe next (and returns it once empty).
  return {};
}

Outcome Mover::Flush(Session& s, int dir, int64_t now) {
  Flow& f = s.flow[dir];
  Endpoint& dst = s.end[1 - dir];
  ssize_t w;
  if (f.inPipe > 0) {
    w = ::splice(f.pipeRead, nullptr, dst.fd, nullptr, f.inPipe, kSpliceFlags);
  } else {
    w = send(dst.fd, f.buf + f.off, f.len, MSG_NOSIGNAL);
  }
  if (w < 0) {
    if (WouldBlock(errno)) {
      dst.writable = false;
      return {};
    }
    if (errno == EINTR) return {};
    return Fail(1 - dir, errno);
  }
  uint32_t wrote = static_cast<uint32_t>(w);
  pendingBytes.fetch_sub(wrote, std::memory_order_relaxed);
  Wrote(s, dir, wrote, now);
  if (f.inPipe > 0) {
    f.inPipe -= wrote;
    if (f.inPipe > 0) {
      dst.writable = false;  // a short write means the socket buffer is full (epoll(7))
    } else {
      pipes.Give(f.pipeRead, f.pipeWrite, true);
      f.pipeRead = f.pipeWrite = -1;
    }
    return {};
  }
  f.off += wrote;
  f.len -= wrote;
  if (f.len > 0) {
    dst.writable = false;
  } else {
    buffers.Give(f.buf);
    f.buf = nullptr;
    f.off = 0;
  }
  return {};
}

void Mover::Wrote(Session& s, int dir, uint64_t n, int64_t now) {
  Flow& f = s.flow[dir];
  f.bytes += n;
  s.end[1 - dir].lastActive = now;
  // The JS side reads this slot at any time (stats, metrics): one relaxed 8-byte store, no event.
  double value = static_cast<double>(f.bytes);
  __atomic_store(&table_[s.slot * 3 + 1 + dir], &value, __ATOMIC_RELAXED);
}

void Mover::Release(Flow& f) {
  if (f.buf != nullptr) {
    pendingBytes.fetch_sub(f.len, std::memory_order_relaxed);
    buffers.Give(f.buf);
    f.buf = nullptr;
    f.len = 0;
  }
  if (f.pipeRead >= 0) {
    pendingBytes.fetch_sub(f.inPipe, std::memory_order_relaxed);
    pipes.Give(f.pipeRead, f.pipeWrite, f.inPipe == 0);
    f.pipeRead = f.pipeWrite = -1;
    f.inPipe = 0;
  }
}

}  // namespace pgr
