// The addon's state on the JS thread (addon.cc): session slots and ids, kill reasons, the
// thread-safe function that brings end reports to JS, and its ref while sessions exist.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.h"

namespace pgr {

// What the JS object and the thread-safe function share; the last of the two frees it.
struct Core {
  napi_env env = nullptr;
  napi_threadsafe_function tsfn = nullptr;
  std::unique_ptr<Engine> engine;
  Napi::Reference<Napi::ArrayBuffer> tableRef;  // keeps the table alive while the thread writes
  double* table = nullptr;
  uint32_t capacity = 0;
  // Slots, main thread only: taken by adopt(), given back when the end report reaches JS (so a
  // slot JS may still read is never reused early).
  std::unique_ptr<uint32_t[]> generation;
  std::vector<uint32_t> freeSlots;
  uint32_t nextFresh = 0;
  int64_t live = 0;
  bool refed = false;
  bool closed = false;
  bool released = false;  // the thread-safe function is released: no more ref/unref
  std::vector<std::string> reasons{""};
  std::unordered_map<std::string, uint16_t> reasonIndex;

  ~Core() {
    engine.reset();  // joins the thread before the table can go
    if (env != nullptr) napi_remove_env_cleanup_hook(env, OnEnvCleanup, this);
  }

  static void OnEnvCleanup(void* arg) {
    // The environment is going away (process exit, worker end): stop writing to its memory.
    Core* core = static_cast<Core*>(arg);
    core->closed = true;
    if (core->engine) core->engine->Stop(0);
  }

  uint16_t Intern(const std::string& reason) {
    auto it = reasonIndex.find(reason);
    if (it != reasonIndex.end()) return it->second;
    if (reasons.size() >= 65535) return 0;
    uint16_t index = static_cast<uint16_t>(reasons.size());
    reasons.push_back(reason);
    reasonIndex.emplace(reason, index);
    return index;
  }

  bool TakeSlot(uint32_t* slot) {
    if (!freeSlots.empty()) {
      *slot = freeSlots.back();
      freeSlots.pop_back();
      return true;
    }
    if (nextFresh >= capacity) return false;
    *slot = nextFresh++;
    return true;
  }

  // Ids never repeat and are never 0 (0 marks a free slot in the table): (generation + 1) *
  // capacity + slot, below 2^53 for any realistic count of sessions.
  double IdOf(uint32_t slot) const { return (static_cast<double>(generation[slot]) + 1) * capacity + slot; }

  void GiveSlot(uint32_t slot) {
    table[slot * 3] = 0;
    generation[slot]++;
    freeSlots.push_back(slot);
  }

  void Ref(bool on) {
    if (on == refed || tsfn == nullptr || released) return;
    // Only while sessions are relayed does the relay keep Node's event loop alive.
    if (on) {
      napi_ref_threadsafe_function(env, tsfn);
    } else {
      napi_unref_threadsafe_function(env, tsfn);
    }
    refed = on;
  }
};

using CoreHandle = std::shared_ptr<Core>;

// Relay thread → JS thread: queue one end report (engine.h Reporter).
void Report(void* context, EndReport* report);
// The thread-safe function's call_js and finalizer (context and data: a CoreHandle*).
void CallJs(napi_env env, napi_value callback, void* context, void* data);
void FinalizeTsfn(napi_env env, void* data, void* hint);

}  // namespace pgr
