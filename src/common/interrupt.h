// Interrupts (SIGINT, SIGTERM, SIGHUP): cleanups that must run when an operator or a timeout
// stops pgdedup, such as dropping a drill's temporary database.
//
//   InstallInterruptHandler();            // first thing in main(), before any thread starts
//   ...
//   OnInterrupt drop([&] { DropTempDatabase(); });   // while it is alive
//
// InstallInterruptHandler blocks the three signals in the calling thread (so in every thread
// started afterwards, which inherit the mask), except those the process was started ignoring
// (nohup), and starts one thread that waits for them. When one arrives, that thread runs the
// registered cleanups, newest first, while the rest of the program goes on, then ends the
// process as the signal's default action would have (same exit status as an uncaught signal).
// Without a registered cleanup that is immediate, as before. A second interrupt while the
// cleanups run ends the process at once.
// Programs started with Subprocess get the signal mask the process had before.
//
// Thread safety: OnInterrupt objects may be created and destroyed on any thread. A cleanup
// runs on the interrupt thread and must be safe to run while the code it protects still runs.
#pragma once

#include <cstddef>
#include <functional>

namespace pgdedup {

void InstallInterruptHandler();

// In a child process between fork and exec (async-signal-safe): puts back the signal mask the
// process had before InstallInterruptHandler, so the program run can be interrupted.
void RestoreSignalMaskInChild();

class OnInterrupt {
 public:
  explicit OnInterrupt(std::function<void()> cleanup);
  ~OnInterrupt();
  OnInterrupt(const OnInterrupt&) = delete;
  OnInterrupt& operator=(const OnInterrupt&) = delete;

 private:
  size_t id_;
};

}  // namespace pgdedup
