// ThreadPool: a fixed set of worker threads running submitted tasks in FIFO order.
//
//   ThreadPool pool(4);
//   std::future<int> f = pool.Submit([] { return 42; });
//   f.get();
//
// Tasks must not throw (their exceptions would surface from future::get, which our code never
// expects). The destructor runs every task already submitted, then joins the workers.
//
// Thread safety: Submit may be called from any thread, including from inside a task (but a task
// must not wait on a task submitted after it when the pool has one thread).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace pgdedup {

class ThreadPool {
 public:
  // REQUIRES: threads >= 1. `nice` > 0 lowers the workers' scheduling priority (Linux per-thread
  // nice value), so a thread that feeds the pool and lies on the critical path keeps its core
  // when the workers could use every core.
  explicit ThreadPool(int threads, int nice = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  template <typename F>
  auto Submit(F&& fn) -> std::future<decltype(fn())> {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> result = task->get_future();
    Enqueue([task] { (*task)(); });
    return result;
  }

  int size() const { return static_cast<int>(workers_.size()); }

  // The number of threads to use by default: the machine's cores (at least 1).
  static int DefaultThreads();

 private:
  void Enqueue(std::function<void()> fn);
  void Run();

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace pgdedup
