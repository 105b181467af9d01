#include "pools.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace pgr {

BufferPool::~BufferPool() { Clear(); }

void BufferPool::Clear() {
  for (char* buf : spare_) free(buf);
  spare_.clear();
}

char* BufferPool::Take() {
  inUse.fetch_add(1, std::memory_order_relaxed);
  if (!spare_.empty()) {
    char* buf = spare_.back();
    spare_.pop_back();
    return buf;
  }
  return static_cast<char*>(malloc(size_));
}

void BufferPool::Give(char* buf) {
  if (buf == nullptr) return;
  inUse.fetch_sub(1, std::memory_order_relaxed);
  if (spare_.size() < kKeep) {
    spare_.push_back(buf);
  } else {
    free(buf);
  }
}

PipePool::PipePool() {
  // Probed once, so capacity() is constant and readable from any thread.
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) == 0) {
    int size = fcntl(fds[1], F_GETPIPE_SZ);
    if (size > 0) capacity_ = static_cast<uint32_t>(size);
    close(fds[0]);
    close(fds[1]);
  }
}

PipePool::~PipePool() { Clear(); }

void PipePool::Clear() {
  for (int fd : spare_) close(fd);
  spare_.clear();
}

int PipePool::Take(int* readEnd, int* writeEnd) {
  if (!spare_.empty()) {
    *writeEnd = spare_.back();
    spare_.pop_back();
    *readEnd = spare_.back();
    spare_.pop_back();
  } else {
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return errno;
    *readEnd = fds[0];
    *writeEnd = fds[1];
  }
  inUse.fetch_add(1, std::memory_order_relaxed);
  return 0;
}

void PipePool::Give(int readEnd, int writeEnd, bool empty) {
  if (readEnd < 0) return;
  inUse.fetch_sub(1, std::memory_order_relaxed);
  if (empty && spare_.size() < 2 * kKeep) {
    spare_.push_back(readEnd);
    spare_.push_back(writeEnd);
    return;
  }
  close(readEnd);
  close(writeEnd);
}

}  // namespace pgr
