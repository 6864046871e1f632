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

sigset_t Interrupts() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

[[noreturn]] void WaitAndEnd(sigset_t set) {
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  {
    // Held until the process ends: a cleanup's owner cannot unregister (and free what the
    // cleanup uses) while it runs.
    std::unique_lock<std::mutex> l(g_mu);
    for (auto it = g_cleanups->rbegin(); it != g_cleanups->rend(); ++it) it->second();
    // The signal's own default action ends the process, with the status a shell expects.
    signal(sig, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, sig);
    pthread_sigmask(SIG_UNBLOCK, &one, nullptr);
    raise(sig);
  }
  _exit(128 + sig);  // not reached
}

}  // namespace

void InstallInterruptHandler() {
  std::lock_guard<std::mutex> l(g_mu);
  if (g_installed) return;
  g_cleanups = new std::map<size_t, std::function<void()>>();  // lives until the process ends
  sigset_t set = Interrupts();
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
