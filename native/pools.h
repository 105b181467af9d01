// Spare buffers (copy strategy) and spare empty pipes (splice strategy) of the relay thread.
// A flow holds one only while its destination is full (or, for a pipe, while bytes are in it),
// so an idle session holds neither: memory and fds per idle pair stay at the two sockets.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace pgr {

class BufferPool {
 public:
  explicit BufferPool(uint32_t size) : size_(size) {}
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  uint32_t size() const { return size_; }
  char* Take();
  void Give(char* buf);
  void Clear();  // frees the spares
  std::atomic<int64_t> inUse{0};

 private:
  static constexpr size_t kKeep = 64;  // spares kept; more are freed
  uint32_t size_;
  std::vector<char*> spare_;
};

class PipePool {
 public:
  PipePool();
  ~PipePool();
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;

  // A pipe's capacity in bytes: the most one splice moves, the most a flow holds.
  uint32_t capacity() const { return capacity_; }
  // 0, or the errno of pipe2 (EMFILE: out of fds).
  int Take(int* readEnd, int* writeEnd);
  // Back to the pool if `empty`, else closed (its bytes are dropped with the session).
  void Give(int readEnd, int writeEnd, bool empty);
  void Clear();  // closes the spares
  size_t spare() const { return spare_.size(); }
  std::atomic<int64_t> inUse{0};

 private:
  static constexpr size_t kKeep = 32;
  uint32_t capacity_ = 65536;  // the kernel default, until probed
  std::vector<int> spare_;  // pairs: read end, write end
};

}  // namespace pgr
