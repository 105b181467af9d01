{
  "targets": [
    {
      "target_name": "pgrouter_relay",
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "native/addon.cc",
            "native/core.cc",
            "native/engine.cc",
            "native/engine-commands.cc",
            "native/engine-timers.cc",
            "native/mover.cc",
            "native/pools.cc"
          ]
        }]
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-O3"],
      "cflags_cc": ["-O2", "-std=c++17", "-Wall", "-Wextra"]
    }
  ]
}
