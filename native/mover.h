// Moves the bytes of one flow (one direction of a session) with either strategy:
//   copy:   recv() into the thread's scratch buffer, send() on; a remainder the destination
//           cannot take is kept in a pooled buffer (at most one buffer per flow).
//   splice: splice() socket → pipe → socket, the bytes never enter user space; a remainder
//           stays in the flow's pipe (at most one pipe's worth per flow).
//   auto:   copy, until a read fills the whole buffer (a flow is streaming): splice from there
//           until the source is drained. Small request/response traffic costs the two
//           syscalls of copy, bulk transfers the zero-copy of splice.
// Either way, while a flow holds a remainder its source is not read: that is the backpressure.
#pragma once

#include <atomic>
#include <cstdint>

#include "pools.h"
#include "session.h"

namespace pgr {

struct Outcome {
  bool more = false;   // the budget ran out with bytes left: service the session again
  bool error = false;  // a socket failed: end the session
  uint8_t side = 0;    // which socket failed
  int err = 0;         // its errno
};

enum class Strategy : uint8_t { kCopy, kSplice, kAuto };

class Mover {
 public:
  Mover(Strategy strategy, uint32_t bufferSize, double* table);
  ~Mover();
  Mover(const Mover&) = delete;
  Mover& operator=(const Mover&) = delete;

  bool usesPipes() const { return strategy_ != Strategy::kCopy; }
  // Moves what flow `dir` can move now; `now` stamps the sides' activity.
  Outcome Advance(Session& s, int dir, int64_t now);
  // Drops a flow's buffer or pipe (its session ended).
  void Release(Flow& f);

  BufferPool buffers;
  PipePool pipes;
  std::atomic<int64_t> pendingBytes{0};  // bytes held in buffers and pipes, all flows

 private:
  Outcome Read(Session& s, int dir, int64_t now);
  Outcome ReadCopy(Session& s, int dir, int64_t now);
  Outcome ReadSplice(Session& s, int dir, int64_t now);
  Outcome Flush(Session& s, int dir, int64_t now);
  void Wrote(Session& s, int dir, uint64_t n, int64_t now);

  Strategy strategy_;
  char* scratch_;
  double* table_;  // 3 doubles per slot: id, bytes client→server, bytes server→client
};

}  // namespace pgr
