// The Node binding of the relay engine (engine.h). JS hands over a session as two socket fds;
// the addon dups them, gives the pair a slot in the counters table (a Float64Array JS owns and
// reads at any time: [id, bytes client→server, bytes server→client] per slot) and reports each
// end once through a thread-safe function. See src/relay/native-relay.ts for the JS side.
#include <fcntl.h>
#include <napi.h>
#include <sys/socket.h>
#include <v8.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "core.h"
#include "engine.h"

namespace pgr {
namespace {

Napi::Value Throw(Napi::Env env, const char* code, const std::string& message, int err) {
  Napi::Error error = Napi::Error::New(env, err != 0 ? message + ": " + strerror(err) : message);
  error.Set("code", Napi::String::New(env, code));
  if (err != 0) error.Set("errno", Napi::Number::New(env, err));
  error.ThrowAsJavaScriptException();
  return env.Undefined();
}

// 0 when `fd` is a connected stream socket, else why not.
int CheckSocket(int fd) {
  int type = 0;
  socklen_t len = sizeof(type);
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0) return errno;
  if (type != SOCK_STREAM) return ESOCKTNOSUPPORT;
  sockaddr_storage peer;
  socklen_t peerLen = sizeof(peer);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peerLen) < 0) return errno;
  return 0;
}

class RelayWrap : public Napi::ObjectWrap<RelayWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeRelay",
                       {InstanceMethod<&RelayWrap::Adopt>("adopt"), InstanceMethod<&RelayWrap::Kill>("kill"),
                        InstanceMethod<&RelayWrap::KillAll>("killAll"), InstanceMethod<&RelayWrap::Close>("close"),
                        InstanceMethod<&RelayWrap::Stats>("stats"), InstanceMethod<&RelayWrap::Inspect>("inspect")});
  }

  // new NativeRelay({ strategy: 'copy' | 'splice' | 'auto', bufferSize, capacity, table: Float64Array, onEnd })
  explicit RelayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<RelayWrap>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value table = o.Get("table");
    Napi::Value onEnd = o.Get("onEnd");
    if (!table.IsTypedArray() || table.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || !onEnd.IsFunction()) {
      Throw(env, "PGR_ERR_RELAY_START", "table (Float64Array) and onEnd (function) are required", 0);
      return;
    }
    Napi::Float64Array t = table.As<Napi::Float64Array>();
    EngineOptions options;
    std::string strategy = o.Get("strategy").ToString().Utf8Value();
    options.strategy = strategy == "copy" ? Strategy::kCopy : strategy == "splice" ? Strategy::kSplice : Strategy::kAuto;
    options.bufferSize = o.Get("bufferSize").ToNumber().Uint32Value();
    options.capacity = o.Get("capacity").ToNumber().Uint32Value();
    if (options.bufferSize < 1024 || options.capacity == 0 || t.ElementLength() < size_t{options.capacity} * 3) {
      Throw(env, "PGR_ERR_RELAY_START", "bufferSize >= 1024, capacity > 0 and table.length >= 3 * capacity", 0);
      return;
    }
    auto core = std::make_shared<Core>();
    core->env = env;
    core->capacity = options.capacity;
    core->table = t.Data();
    core->tableRef = Napi::Persistent(t.ArrayBuffer());
    core->generation.reset(new uint32_t[options.capacity]());
    options.table = core->table;
    napi_add_env_cleanup_hook(env, Core::OnEnvCleanup, core.get());
    auto* handle = new CoreHandle(core);
    napi_status status = napi_create_threadsafe_function(env, onEnd, nullptr, Napi::String::New(env, "pgrouter-relay"), 0, 1,
                                                         handle, FinalizeTsfn, handle, CallJs, &core->tsfn);
    if (status != napi_ok) {
      delete handle;
      Throw(env, "PGR_ERR_RELAY_START", "cannot create the thread-safe function", 0);
      return;
    }
    napi_unref_threadsafe_function(env, core->tsfn);
    core->engine.reset(new Engine(options, Report, core.get()));
    int err = core->engine->Start();
    core_ = core;
    if (err != 0) {
      Shutdown(0);
      Throw(env, "PGR_ERR_RELAY_START", "cannot start the relay thread", err);
    }
  }

  ~RelayWrap() override { Shutdown(0); }

 private:
  // adopt(clientFd, serverFd, clientIdleMs, serverIdleMs) → id
  Napi::Value Adopt(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Core& core = *core_;
    if (core.closed) return Throw(env, "PGR_ERR_RELAY_CLOSED", "the native relay is closed", 0);
    int fds[2] = {info[0].ToNumber().Int32Value(), info[1].ToNumber().Int32Value()};
    for (int fd : fds) {
      int err = CheckSocket(fd);
      if (err != 0) return Throw(env, "PGR_ERR_RELAY_HANDOVER", "fd " + std::to_string(fd) + " is not a connected stream socket", err);
    }
    uint32_t slot;
    if (!core.TakeSlot(&slot)) return Throw(env, "PGR_ERR_RELAY_FULL", "every session slot of the native relay is taken", 0);
    int dups[2] = {-1, -1};
    for (int i = 0; i < 2; ++i) {
      dups[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
      if (dups[i] < 0 || fcntl(dups[i], F_SETFL, fcntl(dups[i], F_GETFL) | O_NONBLOCK) < 0) {
        int err = errno;
        for (int fd : dups) {
          if (fd >= 0) close(fd);
        }
        core.freeSlots.push_back(slot);
        return Throw(env, "PGR_ERR_RELAY_HANDOVER", "cannot take over the sockets", err);
      }
    }
    const double id = core.IdOf(slot);
    auto* s = new Session();
    s->slot = slot;
    s->id = id;
    for (int side = 0; side < 2; ++side) {
      s->end[side].fd = dups[side];
      s->end[side].idleMs = info[2 + side].ToNumber().Uint32Value();
    }
    core.table[slot * 3] = id;
    core.table[slot * 3 + 1] = 0;
    core.table[slot * 3 + 2] = 0;
    if (core.live++ == 0) core.Ref(true);
    // From here `s` is the relay thread's, which may end and free it before Add() returns (its
    // peers closed already, or this thread was descheduled meanwhile): nothing below touches it.
    core.engine->Add(s);
    return Napi::Number::New(env, id);
  }

  bool Live(double id) const {
    if (!(id > 0)) return false;
    uint64_t slot = static_cast<uint64_t>(id) % core_->capacity;
    return core_->table[slot * 3] == id;
  }

  // kill(id, reason) → whether the session was still relayed (its end report says how it ended)
  Napi::Value Kill(const Napi::CallbackInfo& info) {
    double id = info[0].ToNumber().DoubleValue();
    if (core_->closed || !Live(id)) return Napi::Boolean::New(info.Env(), false);
    core_->engine->Kill(id, core_->Intern(info[1].ToString().Utf8Value()));
    return Napi::Boolean::New(info.Env(), true);
  }

  // killAll(reason) → the sessions relayed at the call
  Napi::Value KillAll(const Napi::CallbackInfo& info) {
    if (core_->closed) return Napi::Number::New(info.Env(), 0);
    core_->engine->KillAll(core_->Intern(info[0].ToString().Utf8Value()));
    return Napi::Number::New(info.Env(), static_cast<double>(core_->live));
  }

  // close(reason): ends every session (reported as killed), stops the thread, closes every fd.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(core_->Intern(info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "closed"));
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    EngineStats s = core_->engine->Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("sessions", Napi::Number::New(env, static_cast<double>(s.sessions)));
    o.Set("pendingBytes", Napi::Number::New(env, static_cast<double>(s.pendingBytes)));
    o.Set("buffersInUse", Napi::Number::New(env, static_cast<double>(s.buffersInUse)));
    o.Set("pipesInUse", Napi::Number::New(env, static_cast<double>(s.pipesInUse)));
    o.Set("wakeups", Napi::Number::New(env, static_cast<double>(s.wakeups)));
    o.Set("pipeCapacity", Napi::Number::New(env, s.pipeCapacity));
    o.Set("timers", Napi::Number::New(env, static_cast<double>(s.timers)));
    return o;
  }

  // inspect(id) → [client, server] socket details, or null (diagnostics and tests)
  Napi::Value Inspect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    SocketInfo sockets[2];
    if (core_->closed || !core_->engine->Inspect(info[0].ToNumber().DoubleValue(), sockets)) return env.Null();
    Napi::Array out = Napi::Array::New(env, 2);
    for (uint32_t i = 0; i < 2; ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("fd", sockets[i].fd);
      o.Set("keepalive", sockets[i].keepalive);
      o.Set("keepIdle", sockets[i].keepIdle);
      o.Set("noDelay", sockets[i].noDelay);
      out.Set(i, o);
    }
    return out;
  }

  void Shutdown(uint16_t reason) {
    if (!core_ || core_->closed) return;
    core_->closed = true;
    if (core_->engine) core_->engine->Stop(reason);
    // The reports of the sessions just ended are still queued; release lets them through.
    napi_release_threadsafe_function(core_->tsfn, napi_tsfn_release);
    core_->released = true;
  }

  CoreHandle core_;
};

}  // namespace
}  // namespace pgr

// relieveMemoryPressure(): tells V8 that memory is wanted back (MemoryPressureNotification,
// critical): a full, compacting GC that also shrinks the young generation and releases free
// pages. src/relay/heap-trim.ts calls it once a connection burst is over, when what the burst
// allocated is garbage and the sessions it opened live in the relay thread.
static Napi::Value RelieveMemoryPressure(const Napi::CallbackInfo& info) {
  v8::Isolate::GetCurrent()->MemoryPressureNotification(v8::MemoryPressureLevel::kCritical);
  return info.Env().Undefined();
}

static Napi::Object InitRelay(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeRelay", pgr::RelayWrap::Define(env));
  exports.Set("relieveMemoryPressure", Napi::Function::New(env, RelieveMemoryPressure, "relieveMemoryPressure"));
  return exports;
}

NODE_API_MODULE(pgrouter_relay, InitRelay)
