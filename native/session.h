// One relayed pair as the relay thread sees it: two sockets (client, server) and two flows
// (client→server, server→client). Plain data, owned by the relay thread once added; the main
// thread only builds it (addon.cc) and never touches it again.
#pragma once

#include <cstdint>

namespace pgr {

enum Side : uint8_t { kClient = 0, kServer = 1 };

// How a session ended, in the order of the JS names (addon.cc kReasonNames).
enum class Reason : uint8_t {
  kClientClosed,
  kServerClosed,
  kClientIdle,
  kServerIdle,
  kClientError,
  kServerError,
  kKilled,
};

struct Endpoint {
  int fd = -1;
  // Edge-triggered readiness, remembered between events: set by an epoll event, cleared by a
  // read or write that found the socket empty (or full).
  bool readable = false;
  bool writable = true;
  // The peer shut its side (EPOLLRDHUP/EPOLLHUP): read on until EOF, even after a short read.
  bool rdhup = false;
  // Idle timeout of this side in ms (0 = none); a side is active when a byte is read from it or
  // written to it (HAProxy's `timeout client`: the client is expected to send or acknowledge).
  uint32_t idleMs = 0;
  int64_t lastActive = 0;
};

// One direction: bytes read from end[dir] and written to end[1 - dir].
struct Flow {
  uint64_t bytes = 0;  // written to the destination
  // copy strategy: the bytes read but not yet written (only while the destination is full)
  char* buf = nullptr;
  uint32_t off = 0;
  uint32_t len = 0;
  // splice strategy: the pipe holding bytes in flight (only while they are in flight)
  int pipeRead = -1;
  int pipeWrite = -1;
  uint32_t inPipe = 0;
  bool streaming = false;  // auto strategy: this flow is in a burst, splice it
  bool eof = false;   // the source sent its FIN (read returned 0)
  bool shut = false;  // the FIN was passed on: shutdown(SHUT_WR) on the destination

  bool pending() const { return len > 0 || inPipe > 0; }
};

struct Session {
  double id = 0;
  uint32_t slot = 0;
  Endpoint end[2];
  Flow flow[2];
  int8_t firstEof = -1;  // the side whose FIN came first: the close reason
  bool ended = false;
  bool queued = false;  // on the engine's run queue (its budget ran out with bytes left)
  uint16_t killReason = 0;
  Session* nextQueued = nullptr;
};

}  // namespace pgr
