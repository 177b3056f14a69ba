#include "launcher.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>

#include "mlopt/core/error.h"

extern char** environ;

namespace mlopt::cli {
namespace {

constexpr const char* kRankVariables[] = {"RANK",        "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                          "MASTER_ADDR", "MASTER_PORT"};
// More local ranks than any node has GPUs (or cores to run CPU ranks on).
constexpr int kMaxLocalRanks = 1024;
// How long ranks get to exit after SIGTERM before SIGKILL.
constexpr auto kTermGrace = std::chrono::seconds(10);

std::string this_executable() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) throw Error(std::string("cannot find this executable (/proc/self/exe): ") + std::strerror(errno));
  return std::string(path, static_cast<std::size_t>(n));
}

void write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return;  // the reader went away: the ranks' output is lost, the ranks are
               // not
    done += static_cast<std::size_t>(n);
  }
}

// Copies one child's pipe to `out_fd` a line at a time, each line prefixed
// with its rank; the lock keeps lines of different ranks whole.
void forward_lines(int in_fd, int out_fd, const std::string& prefix, std::mutex& out_mutex) {
  // A closed reader must not kill the launcher (and orphan the ranks):
  // write() then fails with EPIPE instead of raising SIGPIPE on this thread.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  std::string pending;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(in_fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      std::lock_guard lock(out_mutex);
      write_all(out_fd, prefix + pending.substr(start, end + 1 - start));
    }
    pending.erase(0, start);
  }
  if (!pending.empty()) {
    std::lock_guard lock(out_mutex);
    write_all(out_fd, prefix + pending + "\n");
  }
  close(in_fd);
}

int exit_code(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

struct Child {
  pid_t pid = -1;
  int local_rank = 0;
  bool running = false;
  int code = 0;
};

// Joins the output threads however launch_local_ranks is left; by then every
// child has exited, so every pipe reaches its end.
struct Forwarders {
  std::mutex out_mutex;
  std::vector<std::thread> threads;
  ~Forwarders() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

void signal_running(std::vector<Child>& children, int signal) {
  for (auto& c : children) {
    if (c.running) kill(c.pid, signal);
  }
}

// Reaps whichever children have exited; returns how many still run.
int reap(std::vector<Child>& children, const std::function<void(Child&)>& on_exit) {
  int running = 0;
  for (auto& c : children) {
    if (!c.running) continue;
    int status = 0;
    const pid_t r = waitpid(c.pid, &status, WNOHANG);
    if (r == c.pid || (r < 0 && errno == ECHILD)) {
      c.running = false;
      c.code = r == c.pid ? exit_code(status) : 1;
      on_exit(c);
    } else {
      ++running;
    }
  }
  return running;
}

// SIGTERM to every running child, SIGKILL after the grace period, then reap.
void stop_all(std::vector<Child>& children) {
  signal_running(children, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + kTermGrace;
  while (reap(children, [](Child&) {}) > 0) {
    if (std::chrono::steady_clock::now() > deadline) signal_running(children, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

void validate_launch_plan(const LaunchPlan& plan) {
  if (plan.nproc_per_node < 1 || plan.nproc_per_node > kMaxLocalRanks) {
    throw UsageError("--nproc-per-node must be in 1.." + std::to_string(kMaxLocalRanks) + ", got " +
                     std::to_string(plan.nproc_per_node));
  }
  if (plan.nnodes < 1) throw UsageError("--nnodes must be at least 1, got " + std::to_string(plan.nnodes));
  if (plan.node_rank < 0 || plan.node_rank >= plan.nnodes) {
    throw UsageError("--node-rank must be in 0.." + std::to_string(plan.nnodes - 1) + " (with --nnodes " +
                     std::to_string(plan.nnodes) + "), got " + std::to_string(plan.node_rank));
  }
  if (static_cast<long long>(plan.nproc_per_node) * plan.nnodes > (1 << 20)) {
    throw UsageError("--nproc-per-node x --nnodes is more than 1048576 ranks");
  }
  if (plan.master_port < 1 || plan.master_port > 65535) {
    throw UsageError("--master-port must be in 1..65535, got " + std::to_string(plan.master_port));
  }
  if (plan.master_addr.empty()) throw UsageError("--master-addr must not be empty");
}

std::vector<std::pair<std::string, std::string>> rank_environment(const LaunchPlan& plan, int local_rank) {
  validate_launch_plan(plan);
  if (local_rank < 0 || local_rank >= plan.nproc_per_node) {
    throw UsageError("local rank " + std::to_string(local_rank) + " is outside 0.." +
                     std::to_string(plan.nproc_per_node - 1));
  }
  const int rank = plan.node_rank * plan.nproc_per_node + local_rank;
  return {{"RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(plan.nproc_per_node * plan.nnodes)},
          {"LOCAL_RANK", std::to_string(local_rank)},
          {"LOCAL_WORLD_SIZE", std::to_string(plan.nproc_per_node)},
          {"MASTER_ADDR", plan.master_addr},
          {"MASTER_PORT", std::to_string(plan.master_port)}};
}

std::vector<std::string> child_environment(const LaunchPlan& plan, int local_rank,
                                           const std::vector<std::string>& parent) {
  const auto ours = rank_environment(plan, local_rank);
  std::vector<std::string> env;
  env.reserve(parent.size() + ours.size());
  for (const auto& entry : parent) {
    const std::string name = entry.substr(0, entry.find('='));
    bool replaced = false;
    for (const char* v : kRankVariables) replaced = replaced || name == v;
    if (!replaced) env.push_back(entry);
  }
  for (const auto& [name, value] : ours) env.push_back(name + "=" + value);
  return env;
}

int launch_local_ranks(const LaunchPlan& plan, const std::vector<std::string>& args) {
  validate_launch_plan(plan);
  const std::string program = plan.program.empty() ? this_executable() : plan.program;
  std::vector<std::string> parent_env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) parent_env.emplace_back(*e);

  std::vector<Child> children;
  Forwarders forwarders;  // declared after children: joined before they go
  children.reserve(static_cast<std::size_t>(plan.nproc_per_node));
  try {
    for (int local = 0; local < plan.nproc_per_node; ++local) {
      const int rank = plan.node_rank * plan.nproc_per_node + local;
      const std::vector<std::string> env = child_environment(plan, local, parent_env);
      std::vector<char*> envp;
      for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
      envp.push_back(nullptr);
      std::vector<char*> argv{const_cast<char*>(program.c_str())};
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);

      // Close-on-exec pipes: each child keeps only its own write ends (the
      // dup2'd copies on 1 and 2), so every pipe ends when its child exits.
      int out[2] = {-1, -1};
      int err[2] = {-1, -1};
      int status = 0;
      if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        status = errno;
      } else {
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
        posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
        pid_t pid = -1;
        // posix_spawnp: a program given without a '/' is looked up in PATH.
        status = posix_spawnp(&pid, program.c_str(), &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        if (status == 0) children.push_back({pid, local, true, 0});
      }
      for (int fd : {out[1], err[1]}) {
        if (fd >= 0) close(fd);
      }
      if (status != 0) {
        for (int fd : {out[0], err[0]}) {
          if (fd >= 0) close(fd);
        }
        throw Error("could not start rank " + std::to_string(rank) + " (" + program + "): " + std::strerror(status));
      }
      const std::string prefix = "[rank " + std::to_string(rank) + "] ";
      forwarders.threads.emplace_back(forward_lines, out[0], plan.stdout_fd, prefix, std::ref(forwarders.out_mutex));
      forwarders.threads.emplace_back(forward_lines, err[0], plan.stderr_fd, prefix, std::ref(forwarders.out_mutex));
    }
  } catch (...) {
    // Ranks already started would wait for the missing one forever.
    stop_all(children);
    throw;
  }

  int failed_rank = -1;
  int failed_code = 0;
  std::chrono::steady_clock::time_point kill_at{};
  auto on_exit = [&](Child& c) {
    if (c.code == 0 || failed_rank >= 0) return;
    // The first failure: the others would wait for this rank forever (in a
    // collective or the rendezvous), so stop them.
    failed_rank = plan.node_rank * plan.nproc_per_node + c.local_rank;
    failed_code = c.code;
    {
      std::lock_guard lock(forwarders.out_mutex);
      write_all(plan.stderr_fd, "mlopt run: rank " + std::to_string(failed_rank) + " exited with status " +
                                    std::to_string(c.code) + "; stopping the other ranks\n");
    }
    signal_running(children, SIGTERM);
    kill_at = std::chrono::steady_clock::now() + kTermGrace;
  };
  while (reap(children, on_exit) > 0) {
    if (failed_rank >= 0 && std::chrono::steady_clock::now() > kill_at) signal_running(children, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return failed_rank >= 0 ? failed_code : 0;
}

}  // namespace mlopt::cli
