#include "common/interrupt.h"

#include <pthread.h>
#include <signal.h>

#include <map>
#include <mutex>
#include <thread>

namespace pgdedup {

namespace {

std::mutex g_mu;
std::map<size_t, std::function<void()>>* g_cleanups = nullptr;  // by registration order
size_t g_next_id = 0;
bool g_installed = false;
sigset_t g_old_mask;

constexpr int kInterrupts[] = {SIGINT, SIGTERM, SIGHUP};

[[noreturn]] void WaitAndEnd(sigset_t set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  // From here a second interrupt ends the process at once, even while a cleanup hangs (an
  // unreachable server, say).
  for (int s : kInterrupts) {
    if (sigismember(&set, s)) signal(s, SIG_DFL);
  }
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  {
    // Held until the process ends: a cleanup's owner cannot unregister (and free what the
    // cleanup uses) while it runs.
    std::unique_lock<std::mutex> l(g_mu);
    for (auto it = g_cleanups->rbegin(); it != g_cleanups->rend(); ++it) it->second();
    // The signal's own default action ends the process, with the status a shell expects.
    raise(sig);
  }
  _exit(128 + sig);  // not reached
}

}  // namespace

void InstallInterruptHandler() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_installed) return;
  g_cleanups = new std::map<size_t, std::function<void()>>();  // lives until the process ends
  // A signal the process was started ignoring (nohup, a background job of a script) stays
  // ignored: blocked, it would be queued and taken here instead of discarded.
  sigset_t set;
  sigemptyset(&set);
  bool any = false;
  for (int sig : kInterrupts) {
    struct sigaction old;
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaddset(&set, sig);
    any = true;
  }
  if (!any) return;  // nothing can interrupt the process: no thread needed
  pthread_sigmask(SIG_BLOCK, &set, &g_old_mask);
  g_installed = true;
  std::thread(WaitAndEnd, set).detach();
}

void RestoreSignalMaskInChild() {
  if (g_installed) sigprocmask(SIG_SETMASK, &g_old_mask, nullptr);
}

OnInterrupt::OnInterrupt(std::function<void()> cleanup) {
  std::lock_guard<std::mutex> l(g_mu);
  id_ = g_next_id++;
  if (g_cleanups != nullptr) g_cleanups->emplace(id_, std::move(cleanup));
}

OnInterrupt::~OnInterrupt() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_cleanups != nullptr) g_cleanups->erase(id_);
}

}  // namespace pgdedup
