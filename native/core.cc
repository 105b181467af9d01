// End reports, relay thread → JS thread, through the thread-safe function (core.h).
#include "core.h"

namespace pgr {

namespace {

const char* const kReasonNames[] = {"client_closed", "server_closed", "client_idle", "server_idle",
                                    "client_error",  "server_error",  "killed"};

}  // namespace

// Relay thread: hand the report to the JS thread (or drop it when the function is closing).
void Report(void* context, EndReport* report) {
  Core* core = static_cast<Core*>(context);
  if (napi_call_threadsafe_function(core->tsfn, report, napi_tsfn_nonblocking) != napi_ok) delete report;
}

// JS thread: one session ended.
void CallJs(napi_env env, napi_value callback, void* context, void* data) {
  std::unique_ptr<EndReport> report(static_cast<EndReport*>(data));
  if (env == nullptr || callback == nullptr) return;  // the function is being torn down
  Core& core = **static_cast<CoreHandle*>(context);
  core.GiveSlot(report->slot);
  if (--core.live == 0) core.Ref(false);
  Napi::Env e(env);
  Napi::Object end = Napi::Object::New(e);
  end.Set("id", Napi::Number::New(e, report->id));
  end.Set("reason", Napi::String::New(e, kReasonNames[static_cast<int>(report->reason)]));
  end.Set("bytesIn", Napi::Number::New(e, static_cast<double>(report->bytesIn)));
  end.Set("bytesOut", Napi::Number::New(e, static_cast<double>(report->bytesOut)));
  end.Set("errno", Napi::Number::New(e, report->err));
  if (report->killReason != 0 && report->killReason < core.reasons.size()) {
    end.Set("killReason", Napi::String::New(e, core.reasons[report->killReason]));
  }
  napi_value argv[] = {end};
  napi_value global;
  napi_get_global(env, &global);
  napi_call_function(env, global, callback, 1, argv, nullptr);
}

void FinalizeTsfn(napi_env, void* data, void*) { delete static_cast<CoreHandle*>(data); }

}  // namespace pgr
